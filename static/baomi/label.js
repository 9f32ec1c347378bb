// The label's print button (was an inline onclick handler, which the CSP refuses).
"use strict";
document.getElementById("print-label").addEventListener("click", () => window.print());
