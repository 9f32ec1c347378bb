// The dispatch board reloads itself (a GET: the board never repeats an assignment) every
// data-refresh-seconds, unless the dispatcher is choosing a rider or the tab is hidden.
// A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function start() {
    var board = document.getElementById("dispatch-board");
    if (!board) {
      return;
    }
    var seconds = parseInt(board.getAttribute("data-refresh-seconds"), 10) || 30;
    var choosing = false;
    board.addEventListener("change", function () {
      choosing = true;
    });
    window.setInterval(function () {
      var active = document.activeElement;
      var focused = active && board.contains(active) && active.tagName === "SELECT";
      if (!choosing && !focused && !document.hidden) {
        window.location.reload();
      }
    }, seconds * 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
