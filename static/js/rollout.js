// Rollout page: confirmation panels loaded by htmx open in a modal dialog.
// Without JavaScript the same links open a full confirmation page.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "confirm-body") return;
    var dialog = document.getElementById("confirm-dialog");
    if (dialog && !dialog.open) dialog.showModal();
    var first = dialog && dialog.querySelector("textarea, input:not([type=hidden]), select");
    if (first) first.focus();
  });
  // Refusals (400/409) carry the explanation in the panel: show it instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target.id === "confirm-body" && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
