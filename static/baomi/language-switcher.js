// The language menu submits itself on change (was an inline onchange handler, which the
// Content-Security-Policy refuses). Without JavaScript, the <noscript> button submits it.
"use strict";
document.querySelectorAll(".language-switcher select").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
