/* Review page: keyboard shortcuts and the time-on-task timer. Works on every htmx swap of #task.
 * Shortcuts never fire while typing in a text box (Ctrl+Enter and Esc excepted). */
(function () {
  "use strict";
  var TEXT_INPUTS = ["text", "search", "email", "number", "password", "url", "tel", "date", "time"];
  var FLAGS = { p: "pii", u: "unsafe", f: "factual_error", o: "off_topic" };
  var DECISIONS = { a: "accept", e: "edit", r: "reject" };
  var started = Date.now();
  var timerId = null;
  var current = 0;

  function form() { return document.getElementById("task-form"); }
  function criteria() { return Array.prototype.slice.call(document.querySelectorAll("#task-form .criterion")); }
  function answered(fs) { return !!fs.querySelector("input[type=radio]:checked"); }

  function isTyping(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && TEXT_INPUTS.indexOf((el.type || "text").toLowerCase()) !== -1;
  }

  function highlight(i) {
    var list = criteria();
    if (!list.length) return;
    current = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (fs, n) { fs.classList.toggle("current", n === current); });
  }

  function nextUnanswered(from) {
    var list = criteria();
    for (var k = 1; k <= list.length; k++) {
      var n = (from + k) % list.length;
      if (!answered(list[n])) return n;
    }
    return from;
  }

  function elapsed() { return (Date.now() - started) / 1000; }

  function tick() {
    var hidden = document.getElementById("duration_seconds");
    var shown = document.getElementById("timer");
    var s = elapsed();
    if (hidden) hidden.value = s.toFixed(1);
    if (shown) {
      var m = Math.floor(s / 60), sec = Math.floor(s % 60);
      shown.textContent = m + ":" + (sec < 10 ? "0" : "") + sec;
    }
  }

  function syncEdit() {
    var f = form();
    if (!f) return;
    var box = document.getElementById("edit-box");
    var edit = f.querySelector("input[name=decision][value=edit]");
    if (box && edit) box.hidden = !edit.checked;
  }

  function init() {
    var f = form();
    if (timerId) clearInterval(timerId);
    // htmx restores focus to an element with the same id (the comment box, say); on a new task the
    // shortcuts should work at once, so focus moves to the heading ("Item n of m") instead.
    var heading = document.getElementById("progress");
    var errorInput = f && f.querySelector(".has-error input");
    if (errorInput) errorInput.focus({ preventScroll: true });
    else if (heading && !(f && f.querySelector(".error-summary"))) heading.focus({ preventScroll: true });
    if (!f) return;
    started = Date.now() - (parseFloat(f.dataset.elapsed) || 0) * 1000;
    tick();
    timerId = setInterval(tick, 1000);
    var list = criteria();
    var firstOpen = list.findIndex(function (fs) { return !answered(fs); });
    highlight(firstOpen >= 0 ? firstOpen : 0);
    syncEdit();
    var firstError = f.querySelector(".has-error input, .field-error");
    if (firstError && firstError.scrollIntoView) firstError.scrollIntoView({ block: "center" });
  }

  function setDecision(value) {
    var radio = form().querySelector("input[name=decision][value=" + value + "]");
    if (!radio) return;
    radio.checked = true;
    syncEdit();
    if (value === "edit") {
      var ta = document.getElementById("edited_text");
      if (ta) { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }
    }
  }

  function choose(fs, n) {
    var radios = fs.querySelectorAll("input[type=radio]");
    if (!radios[n - 1]) return false;
    radios[n - 1].checked = true;
    highlight(nextUnanswered(Number(fs.dataset.index)));
    return true;
  }

  function answerBinary(yes) {
    var list = criteria();
    var fs = list[current];
    if (!fs || fs.dataset.type !== "binary") {
      fs = list.find(function (c) { return c.dataset.type === "binary" && !answered(c); }) ||
           list.find(function (c) { return c.dataset.type === "binary"; });
    }
    if (fs) choose(fs, yes ? 1 : 2);
  }

  function toggleHelp(force) {
    var help = document.getElementById("help");
    if (help) help.hidden = force === undefined ? !help.hidden : !force;
  }

  function submit() {
    var f = form();
    if (!f) return;
    tick();
    if (f.requestSubmit) f.requestSubmit(); else f.submit();
  }

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      if (form()) { e.preventDefault(); submit(); }
      return;
    }
    if (e.key === "Escape") {
      if (isTyping(document.activeElement)) document.activeElement.blur();
      toggleHelp(false);
      return;
    }
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "?") { e.preventDefault(); toggleHelp(); return; }
    var f = form();
    if (!f) return;
    var key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    var handled = true;
    if (DECISIONS[key]) {
      setDecision(DECISIONS[key]);
    } else if (/^[1-9]$/.test(key)) {
      var fs = criteria()[current];
      if (!fs || (fs.dataset.type === "binary")) handled = false;
      else handled = choose(fs, Number(key));
    } else if (key === "y" || key === "n") {
      answerBinary(key === "y");
    } else if (key === "j" || key === "k") {
      highlight(current + (key === "j" ? 1 : -1));
    } else if (FLAGS[key]) {
      var box = f.querySelector("input[name=flags][value=" + FLAGS[key] + "]");
      if (box) box.checked = !box.checked;
    } else if (key === "c") {
      var comment = document.getElementById("comment");
      if (comment) comment.focus();
    } else if (key === "s") {
      var skip = document.getElementById("skip-button");
      if (skip) skip.click();
    } else {
      handled = false;
    }
    if (handled) e.preventDefault();
  });

  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-action=help]")) toggleHelp();
  });
  document.addEventListener("change", function (e) {
    if (e.target.name === "decision") syncEdit();
  });
  document.addEventListener("focusin", function (e) {
    var fs = e.target.closest && e.target.closest(".criterion");
    if (fs) highlight(Number(fs.dataset.index));
  });
  // Capture phase: runs before htmx reads the form, so the duration is current.
  document.addEventListener("submit", function (e) { if (e.target.id === "task-form") tick(); }, true);
  document.addEventListener("htmx:afterSwap", init);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
