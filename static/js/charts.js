// Draws every <div data-plotly="ID"> from the figure JSON in <script type="application/json"
// id="ID"> (written by Django's json_script), with the vendored Plotly. Runs on load and
// after every htmx swap, skipping charts already drawn.
(function () {
  "use strict";

  const CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  };

  function render(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll("[data-plotly]").forEach(function (el) {
      if (el.dataset.rendered === "1") { return; }
      const source = document.getElementById(el.dataset.plotly);
      if (!source) { return; }
      const figure = JSON.parse(source.textContent);
      el.dataset.rendered = "1";
      window.Plotly.newPlot(el, figure.data || [], figure.layout || {}, CONFIG);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function () { render(document); });
}());
