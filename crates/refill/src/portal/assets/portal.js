// refill customer page: the little the server cannot do. Everything works without it.
(function () {
  "use strict";
  // Print buttons (receipts).
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("[data-print]")) { e.preventDefault(); window.print(); }
  });
  // A confirmation before an action that cannot be undone.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var q = f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); return; }
    // One press pays once: the button is disabled while the page answers.
    var b = f.querySelector("button[type=submit]");
    if (b && f.method === "post") { setTimeout(function () { b.disabled = true; }, 0); }
  });
  // Auto top-up: show the field of the chosen amount rule only.
  function rule() {
    var fixed = document.getElementById("rule-fixed");
    if (!fixed) return;
    var f = document.getElementById("field-amount"), t = document.getElementById("field-target");
    f.hidden = !fixed.checked; t.hidden = fixed.checked;
  }
  document.addEventListener("change", function (e) { if (e.target.name === "rule") rule(); });
  document.addEventListener("DOMContentLoaded", rule);
})();
