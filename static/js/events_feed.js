// The live feed prepends a batch of rows every poll; keep the page light on long sessions.
(function () {
  "use strict";
  var MAX_ROWS = 500;
  document.body.addEventListener("htmx:afterSwap", function () {
    var rows = document.querySelectorAll("table.feed tr.feed-row");
    for (var i = MAX_ROWS; i < rows.length; i++) {
      rows[i].remove();
    }
    document.querySelectorAll("table.feed tbody.feed-batch:empty").forEach(function (el) {
      el.remove();
    });
  });
})();
