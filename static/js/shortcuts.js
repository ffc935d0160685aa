/* Shared by the keyboard-driven pages (SFT review, comparison, adjudication, curated pairs): the "am I typing"
 * test, the time-on-task timer, the rubric-criterion cursor, and the page wiring every one of them
 * uses: Ctrl+Enter submits, Esc leaves a text box and closes the help, ? toggles the help, and no
 * other shortcut fires while typing in a text box. init() runs on load and after each htmx swap.
 * Task pages also share the skip picker (s, then 1-4 for the reason; Esc cancels) and z, which undoes
 * the last skip or goes back to the item just submitted. A lead's preview (an inert form) takes no keys. */
(function () {
  "use strict";
  var TEXT_INPUTS = ["text", "search", "email", "number", "password", "url", "tel", "date", "time"];

  function isTyping(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && TEXT_INPUTS.indexOf((el.type || "text").toLowerCase()) !== -1;
  }

  function submitForm(f) {
    if (!f) return;
    // htmx wires swapped-in content as it settles (a timer after the swap): a Ctrl+Enter that comes
    // first (a busy machine, a fast hand) would post the bare form as a full page. Wire it now
    // (process() is a no-op on a form already wired).
    if (window.htmx && f.hasAttribute("hx-post")) window.htmx.process(f);
    if (f.requestSubmit) f.requestSubmit(); else f.submit();
  }

  function toggleHelp(id, force) {
    var help = document.getElementById(id);
    if (help) help.hidden = force === undefined ? !help.hidden : !force;
  }

  /* Time on task, shown in #timer and sent in #duration_seconds. restart(already) starts it again
   * for a new task, counting `already` seconds (a task re-rendered after an error keeps its time). */
  function Timer() { this.started = Date.now(); this.id = null; }
  Timer.prototype.seconds = function () { return (Date.now() - this.started) / 1000; };
  Timer.prototype.tick = function () {
    var hidden = document.getElementById("duration_seconds");
    var shown = document.getElementById("timer");
    var s = this.seconds();
    if (hidden) hidden.value = s.toFixed(1);
    if (shown) {
      var m = Math.floor(s / 60), sec = Math.floor(s % 60);
      shown.textContent = m + ":" + (sec < 10 ? "0" : "") + sec;
    }
  };
  Timer.prototype.stop = function () { if (this.id) clearInterval(this.id); this.id = null; };
  Timer.prototype.restart = function (already) {
    this.stop();
    this.started = Date.now() - (already || 0) * 1000;
    this.tick();
    this.id = setInterval(this.tick.bind(this), 1000);
  };

  /* The highlighted rubric criterion (a fieldset.criterion with data-index) inside `selector`. */
  function Criteria(selector) { this.selector = selector; this.current = 0; }
  Criteria.prototype.list = function () {
    return Array.prototype.slice.call(document.querySelectorAll(this.selector + " .criterion"));
  };
  Criteria.prototype.answered = function (fs) { return !!fs.querySelector("input[type=radio]:checked"); };
  Criteria.prototype.highlight = function (i) {
    var list = this.list();
    if (!list.length) return;
    var current = this.current = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (fs, n) { fs.classList.toggle("current", n === current); });
  };
  Criteria.prototype.first = function () {  // highlight the first unanswered one
    var self = this;
    this.highlight(Math.max(0, this.list().findIndex(function (fs) { return !self.answered(fs); })));
  };
  Criteria.prototype.advance = function (from) {  // to the next unanswered one after `from`
    var list = this.list();
    for (var k = 1; k <= list.length; k++) {
      var n = (from + k) % list.length;
      if (!this.answered(list[n])) { this.highlight(n); return; }
    }
  };
  Criteria.prototype.follow = function () {  // clicking or tabbing into a criterion highlights it
    var self = this;
    document.addEventListener("focusin", function (e) {
      var fs = e.target.closest && e.target.closest(self.selector + " .criterion");
      if (fs) self.highlight(Number(fs.dataset.index));
    });
  };

  /* The skip picker (#skip-reasons): open, close or toggle (open undefined); returns whether open. */
  function skipPicker(open) {
    var box = document.getElementById("skip-reasons");
    if (!box) return false;
    box.hidden = open === undefined ? !box.hidden : !open;
    var button = document.getElementById("skip-button");
    if (button) button.setAttribute("aria-expanded", String(!box.hidden));
    if (!box.hidden) {
      var first = box.querySelector("button");
      if (first) first.focus({ preventScroll: true });
    }
    return !box.hidden;
  }

  function click(selector) {
    var el = document.querySelector(selector);
    if (el) el.click();
    return !!el;
  }

  /* Wire a keyboard page. opts: formId; helpId; init(); onKey(e, key, form) -> true when handled
   * (key is lower-cased when a single character); onEscape(); beforeSubmit() (runs before any
   * submit of the form, mouse or keyboard, before htmx reads it); ctrlEnter: false when the form
   * has no single submit for Ctrl+Enter to press (the curated pairs page). */
  function page(opts) {
    function form() { return document.getElementById(opts.formId); }
    document.addEventListener("keydown", function (e) {
      var f = form();
      if (f && f.inert) f = null;  // a lead's preview: read-only
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        if (f && opts.ctrlEnter !== false) { e.preventDefault(); submitForm(f); }
        return;
      }
      if (e.key === "Escape") {
        if (isTyping(document.activeElement)) document.activeElement.blur();
        if (opts.onEscape) opts.onEscape();
        toggleHelp(opts.helpId, false);
        skipPicker(false);
        return;
      }
      if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "?") { e.preventDefault(); toggleHelp(opts.helpId); return; }
      var key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      if (key === "z" && click("#undo-button")) { e.preventDefault(); return; }
      if (!f) return;
      var picker = document.getElementById("skip-reasons");
      if (picker && !picker.hidden && /^[0-9]$/.test(key)) {
        e.preventDefault();
        click("#skip-reasons [data-skip-key='" + key + "']");
        return;
      }
      if (opts.onKey(e, key, f)) e.preventDefault();
    });
    document.addEventListener("click", function (e) {
      if (e.target.closest && e.target.closest("[data-action=help]")) toggleHelp(opts.helpId);
      if (e.target.closest && e.target.closest("[data-action=skip]")) skipPicker();
    });
    if (opts.beforeSubmit) {
      // Capture phase: runs before htmx serialises the form.
      document.addEventListener("submit", function (e) {
        if (e.target.id === opts.formId) opts.beforeSubmit();
      }, true);
    }
    document.addEventListener("htmx:afterSwap", opts.init);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", opts.init);
    else opts.init();
  }

  window.Tuneloop = { isTyping: isTyping, submitForm: submitForm, Timer: Timer, Criteria: Criteria, page: page };
})();
