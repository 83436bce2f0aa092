// The console's only script: small conveniences; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before a form marked data-confirm is sent (approve, reject, agreement).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
