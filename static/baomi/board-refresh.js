// The kitchen board refreshes itself every data-refresh-seconds (the page keeps a
// <meta http-equiv="refresh"> inside <noscript> for browsers without JavaScript). It fetches
// the page again and swaps <main>'s content: no white flash on the wall screen, the scroll
// stays. Each refresh is a page view that the vault records, so it waits while the tab is
// hidden (and catches up when it shows again), while a form is being submitted, and while
// someone uses a field (the language menu). Its own static file: the CSP refuses inline code.
"use strict";
(() => {
  const marker = document.getElementById("board-updated");
  if (!marker) {
    return;
  }
  const period = (Number(marker.dataset.refreshSeconds) || 25) * 1000;
  let submitting = false;
  let busy = false;
  let last = Date.now();

  document.addEventListener("submit", () => {
    submitting = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      submitting = false; // back from the history: the page is live again
    }
  });

  const fieldInUse = () => {
    const active = document.activeElement;
    return Boolean(active && active.matches("input, select, textarea"));
  };

  const showStale = () => {
    const stale = document.querySelector("#board-updated .stale");
    if (stale) {
      stale.hidden = false;
    }
  };

  async function refresh() {
    if (submitting || busy || document.hidden || fieldInUse()) {
      return;
    }
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "follow",
      });
      if (response.status >= 500) {
        showStale(); // a passing server error: keep the board, try again next time
        return;
      }
      const next = response.ok ? new DOMParser().parseFromString(await response.text(), "text/html") : null;
      const main = next && next.getElementById("main");
      if (response.redirected || !main || !next.getElementById("board")) {
        window.location.reload(); // logged out or no longer allowed: let the browser show why
        return;
      }
      if (submitting || fieldInUse()) {
        return;
      }
      const current = document.getElementById("main");
      const active = document.activeElement;
      const action = active && current.contains(active) && active.form ? active.form.getAttribute("action") : null;
      current.replaceChildren(...main.childNodes);
      if (action) {
        // Keyboard users keep their place when their order's button is still there.
        const same = [...current.querySelectorAll("form")].find((f) => f.getAttribute("action") === action);
        if (same && same.querySelector("button")) {
          same.querySelector("button").focus();
        }
      }
      last = Date.now();
    } catch {
      showStale(); // offline: the old board stays, marked as not current
    } finally {
      busy = false;
    }
  }

  window.setInterval(refresh, period);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && Date.now() - last >= period) {
      refresh();
    }
  });
})();
