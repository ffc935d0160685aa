/* Adjudication page: 1..9 pick a judgment, o override, e edit gold, m more annotators, d discard,
 * r reason; Ctrl+Enter, Esc and ? come from shortcuts.js. Only the chosen decision's fields show
 * (each group lists its decisions in data-decisions; none chosen, none shows). */
(function () {
  "use strict";
  var KEYS = { o: "override", e: "edit_gold", m: "more", d: "discard" };

  function form() { return document.getElementById("adjudicate-form"); }
  function showFields() {
    var f = form();
    if (!f) return;
    var chosen = f.querySelector("input[name=decision]:checked");
    var decision = chosen ? chosen.value : "";
    f.querySelectorAll("[data-decisions]").forEach(function (group) {
      group.hidden = group.getAttribute("data-decisions").split(" ").indexOf(decision) < 0;
    });
  }
  function setDecision(value) {
    var radio = form().querySelector("input[name=decision][value=" + value + "]");
    if (radio) radio.checked = true;
    showFields();
    if (value === "edit_gold" || value === "override") {
      var box = document.getElementById(value === "edit_gold" ? "final_text" : (document.getElementById("final_decision") ? "final_decision" : "final_winner"));
      if (box) box.focus();
    }
  }
  function init() {
    var heading = document.getElementById("adj-heading");
    var f = form();
    showFields();
    if (f && f.querySelector(".error-summary")) return;
    if (heading) heading.focus({ preventScroll: true });
  }
  function onKey(e, key, f) {
    if (/^[1-9]$/.test(key)) {
      var card = f.querySelector(".judgment[data-n='" + key + "'] input[name=judgment]");
      if (!card) return false;
      card.checked = true;
      setDecision("pick");
    } else if (KEYS[key]) {
      setDecision(KEYS[key]);
    } else if (key === "r") {
      var reason = document.getElementById("reason");
      if (reason) reason.focus();
    } else {
      return false;
    }
    return true;
  }
  window.Tuneloop.page({ formId: "adjudicate-form", helpId: "adj-help", init: init, onKey: onKey });
  document.addEventListener("change", function (e) {
    if (e.target.name === "judgment") setDecision("pick");
    if (e.target.name === "decision") showFields();
  });
})();
