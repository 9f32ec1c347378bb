// A printable page's "Print" button (the Content-Security-Policy allows no inline handler).
"use strict";
document.getElementById("print-page").addEventListener("click", () => window.print());
