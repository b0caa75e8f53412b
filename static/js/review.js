// Review queue: j/k move between flags, c/d/e confirm/dismiss/escalate the current one,
// x selects it for the bulk actions. Decisions go through the item's own htmx form, so the
// keyboard and the buttons take exactly the same path (CSRF, roles, 403s included).
(function () {
  "use strict";

  const DECISIONS = { c: "confirmed", d: "dismissed", e: "escalated" };
  let current = null;
  let nextAfterSwap = null;
  const decisionOf = new WeakMap(); // form -> the decision its last submit carried

  function items() {
    return Array.from(document.querySelectorAll("#queue .flag-item"));
  }

  function select(item) {
    items().forEach(function (el) { el.classList.remove("current"); });
    current = item || null;
    if (current) {
      current.classList.add("current");
      current.focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function move(delta) {
    const list = items();
    if (!list.length) { return; }
    let index = list.indexOf(current);
    index = index < 0 ? 0 : Math.min(list.length - 1, Math.max(0, index + delta));
    select(list[index]);
  }

  function decide(decision) {
    if (!current) { return; }
    const button = current.querySelector('button[name="decision"][value="' + decision + '"]');
    if (button) { button.click(); }
  }

  function selectedCount() {
    return document.querySelectorAll("#queue .flag-select:checked").length;
  }

  function updateSelected() {
    document.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = String(selectedCount());
    });
  }

  function toggle() {
    if (!current) { return; }
    const box = current.querySelector(".flag-select");
    if (box) {
      box.checked = !box.checked;
      updateSelected();
    }
  }

  function adjustCount(tab, delta) {
    const badge = document.querySelector('[data-count="' + tab + '"]');
    if (!badge) { return; }
    const value = parseInt(badge.textContent.replace(/[^0-9]/g, ""), 10) || 0;
    badge.textContent = String(Math.max(0, value + delta));
  }

  function typingInField(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target)) { return; }
    const key = event.key.toLowerCase();
    if (key === "j") { move(1); } else if (key === "k") { move(-1); } else if (key === "x") { toggle(); } else if (DECISIONS[key]) { decide(DECISIONS[key]); } else { return; }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const item = event.target.closest && event.target.closest("#queue .flag-item");
    if (item && item !== current) { select(item); }
  });

  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("flag-select")) { updateSelected(); }
  });

  document.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.name === "decision") {
      decisionOf.set(event.target, event.submitter.value);
    }
    if (event.target.id === "bulk-form" && selectedCount() === 0) {
      event.preventDefault();
      const hint = event.target.querySelector("[data-selected-count]");
      if (hint) { hint.classList.add("shake"); setTimeout(function () { hint.classList.remove("shake"); }, 600); }
    }
  });

  // Remember where to go before htmx removes a decided item, then move there.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (!target || !target.classList.contains("flag-item")) { return; }
    if (event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = false;
      target.classList.add("failed");
      const message = document.createElement("p");
      message.className = "alert error";
      message.textContent = event.detail.xhr.status === 403
        ? "You may not decide this flag."
        : "Not saved: " + event.detail.xhr.responseText;
      target.appendChild(message);
      return;
    }
    nextAfterSwap = target.nextElementSibling || target.previousElementSibling;
    adjustCount(document.getElementById("queue").dataset.tab, -1);
    const form = target.querySelector("form.flag-actions");
    if (form && decisionOf.get(form) === "escalated") { adjustCount("escalated", 1); }
  });

  function afterRemoval() {
    if (current && current.isConnected) { return; }
    const candidate = nextAfterSwap && nextAfterSwap.isConnected && nextAfterSwap.classList.contains("flag-item")
      ? nextAfterSwap : items()[0];
    nextAfterSwap = null;
    if (candidate) {
      select(candidate);
    } else if (window.htmx) {
      // The page is done: fetch the rest of the queue (or its empty state).
      window.htmx.ajax("GET", window.location.href, { target: "#queue", swap: "outerHTML" });
    }
    updateSelected();
  }

  function watch() {
    const queue = document.getElementById("queue");
    if (!queue) { return; }
    new MutationObserver(afterRemoval).observe(queue, { childList: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    watch();
    select(items()[0]);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "queue") {
      watch();
      select(items()[0]);
    }
  });
}());
