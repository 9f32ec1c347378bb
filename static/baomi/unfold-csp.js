// django-unfold under a Content-Security-Policy without 'unsafe-eval' (docs/decisions/0010).
//
// static/unfold/js/alpine/alpine.js is Alpine's CSP build: it evaluates single expressions
// itself (properties, calls, assignments, comparisons, object literals) but not statements,
// arrow functions or globals such as localStorage and window. unfold's templates call global
// functions from its app.js in x-data ("theme()", "searchForm()"): they are registered here
// as Alpine components under the same names, and the few templates with statements
// (templates/unfold/…, templates/admin/change_form.html) name the methods below instead.
// This file loads before Alpine starts (UNFOLD["SCRIPTS"]) and unfold's app.js before that
// happens, so its functions exist when "alpine:init" fires.
(function () {
  "use strict";

  var SIDEBAR_KEY = "sidebarDesktopOpen";

  function storedSidebar() {
    try {
      var value = window.localStorage.getItem(SIDEBAR_KEY);
      return value === null ? true : value === "1";
    } catch (e) {
      return true;
    }
  }

  function storeSidebar(open) {
    try {
      window.localStorage.setItem(SIDEBAR_KEY, open ? "1" : "0");
    } catch (e) {
      /* private mode: the choice lasts for the page only */
    }
  }

  document.addEventListener("alpine:init", function () {
    var Alpine = window.Alpine;

    // unfold's own components, by the names its templates use.
    Alpine.data("theme", function (defaultTheme) {
      return theme(defaultTheme || "auto");
    });
    Alpine.data("searchForm", function () {
      return searchForm();
    });
    Alpine.data("searchDropdown", function () {
      return Object.assign(searchDropdown(), {
        openResults: function () {
          this.openSearchResults = true;
          this.currentIndex = 0;
        },
        escapeSearch: function () {
          this.openSearchResults = false;
          var input = this.$refs.searchInput;
          if (input.value === "") {
            input.blur();
          } else {
            input.value = "";
          }
        },
      });
    });
    Alpine.data("searchCommand", function () {
      return Object.assign(searchCommand(), {
        selectItemPlain: function (event, withHistory) {
          if (!event.metaKey && !event.ctrlKey) {
            this.selectItem(withHistory, false);
          }
        },
      });
    });

    // The page's state (unfold's skeleton had it inline on <body>).
    Alpine.data("unfoldPage", function (primaryTab, hasTabs) {
      return {
        activeTab: primaryTab,
        sidebarMobileOpen: false,
        sidebarDesktopOpen: storedSidebar(),
        init: function () {
          if (hasTabs) {
            this.activeTab = getCurrentTab() || primaryTab;
          }
          this.$watch("sidebarDesktopOpen", storeSidebar);
        },
        toggleSidebarDesktop: function () {
          this.sidebarDesktopOpen = !this.sidebarDesktopOpen;
        },
        // The change form posts back to its own page, keeping the open tab.
        get formAction() {
          var here = window.location.pathname + window.location.search;
          return this.activeTab && this.activeTab !== "general" ? here + "#" + this.activeTab : here;
        },
        // Sortable inlines' callbacks (x-sort), from unfold's app.js.
        sortRecords: function (event) {
          return sortRecords(event);
        },
        moveRecords: function (event) {
          return moveRecords(event);
        },
      };
    });
  });
})();
