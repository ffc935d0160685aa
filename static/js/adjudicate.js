/* Adjudication page: 1..9 pick a judgment, o override, e edit gold, m more annotators, d discard,
 * r reason, Ctrl+Enter submit, ? help. Shortcuts never fire while typing (Ctrl+Enter, Esc excepted). */
(function () {
  "use strict";
  var TEXT_INPUTS = ["text", "search", "email", "number", "password", "url", "tel"];
  var KEYS = { o: "override", e: "edit_gold", m: "more", d: "discard" };

  function form() { return document.getElementById("adjudicate-form"); }
  function isTyping(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && TEXT_INPUTS.indexOf((el.type || "text").toLowerCase()) !== -1;
  }
  function setDecision(value) {
    var radio = form().querySelector("input[name=decision][value=" + value + "]");
    if (radio) radio.checked = true;
    if (value === "edit_gold" || value === "override") {
      var box = document.getElementById(value === "edit_gold" ? "final_text" : (document.getElementById("final_decision") ? "final_decision" : "final_winner"));
      if (box) box.focus();
    }
  }
  function toggleHelp(force) {
    var help = document.getElementById("adj-help");
    if (help) help.hidden = force === undefined ? !help.hidden : !force;
  }
  function init() {
    var heading = document.getElementById("adj-heading");
    var f = form();
    if (f && f.querySelector(".error-summary")) return;
    if (heading) heading.focus({ preventScroll: true });
  }
  document.addEventListener("keydown", function (e) {
    var f = form();
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      if (f) { e.preventDefault(); if (f.requestSubmit) f.requestSubmit(); else f.submit(); }
      return;
    }
    if (e.key === "Escape") {
      if (isTyping(document.activeElement)) document.activeElement.blur();
      toggleHelp(false);
      return;
    }
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "?") { e.preventDefault(); toggleHelp(); return; }
    if (!f) return;
    var key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (/^[1-9]$/.test(key)) {
      var card = f.querySelector(".judgment[data-n='" + key + "'] input[name=judgment]");
      if (!card) return;
      card.checked = true;
      setDecision("pick");
    } else if (KEYS[key]) {
      setDecision(KEYS[key]);
    } else if (key === "r") {
      var reason = document.getElementById("reason");
      if (reason) reason.focus();
    } else {
      return;
    }
    e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-action=help]")) toggleHelp();
  });
  document.addEventListener("change", function (e) {
    if (e.target.name === "judgment") setDecision("pick");
  });
  document.addEventListener("htmx:afterSwap", init);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
