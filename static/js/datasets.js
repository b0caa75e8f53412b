// Datasets upload: refuse an oversized file before the browser starts sending it.
(function () {
  "use strict";
  document.querySelectorAll("form.ds-upload").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var message = form.querySelector(".ds-size-error");
    var submit = form.querySelector("button[type=submit]");
    var limit = Number(form.dataset.maxBytes);
    if (!input || !message || !submit || !limit) {
      return;
    }
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var tooLarge = Boolean(file && file.size > limit);
      message.hidden = !tooLarge;
      message.textContent = tooLarge
        ? "This file is " + Math.round(file.size / 1048576) + " MB; the limit is " +
          form.dataset.maxMb + " MB. Split it into several datasets."
        : "";
      submit.disabled = tooLarge;
    });
  });
})();
