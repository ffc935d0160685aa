/* SFT review page: a/e/r decide, 1-5 / y / n score the highlighted criterion (j / k move it),
 * p/u/f/o toggle flags, c comments, s skips; Ctrl+Enter, Esc and ? come from shortcuts.js. */
(function () {
  "use strict";
  var T = window.Tuneloop;
  var FLAGS = { p: "pii", u: "unsafe", f: "factual_error", o: "off_topic" };
  var DECISIONS = { a: "accept", e: "edit", r: "reject" };
  var timer = new T.Timer();
  var criteria = new T.Criteria("#task-form");

  function form() { return document.getElementById("task-form"); }

  function syncEdit(f) {
    var box = document.getElementById("edit-box");
    var edit = f && f.querySelector("input[name=decision][value=edit]");
    if (box && edit) box.hidden = !edit.checked;
  }

  function init() {
    var f = form();
    timer.stop();
    // htmx restores focus to an element with the same id (the comment box, say); on a new task the
    // shortcuts should work at once, so focus moves to the heading ("Item n of m") instead.
    var heading = document.getElementById("progress");
    var errorInput = f && f.querySelector(".has-error input");
    if (errorInput) errorInput.focus({ preventScroll: true });
    else if (heading && !(f && f.querySelector(".error-summary"))) heading.focus({ preventScroll: true });
    if (!f) return;
    timer.restart(parseFloat(f.dataset.elapsed) || 0);
    criteria.first();
    syncEdit(f);
    var firstError = f.querySelector(".has-error input, .field-error");
    if (firstError && firstError.scrollIntoView) firstError.scrollIntoView({ block: "center" });
  }

  function setDecision(f, value) {
    var radio = f.querySelector("input[name=decision][value=" + value + "]");
    if (!radio) return;
    radio.checked = true;
    syncEdit(f);
    if (value === "edit") {
      var ta = document.getElementById("edited_text");
      if (ta) { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }
    }
  }

  function choose(fs, n) {
    var radios = fs.querySelectorAll("input[type=radio]");
    if (!radios[n - 1]) return false;
    radios[n - 1].checked = true;
    criteria.advance(Number(fs.dataset.index));
    return true;
  }

  function answerBinary(yes) {
    var list = criteria.list();
    var fs = list[criteria.current];
    if (!fs || fs.dataset.type !== "binary") {
      fs = list.find(function (c) { return c.dataset.type === "binary" && !criteria.answered(c); }) ||
           list.find(function (c) { return c.dataset.type === "binary"; });
    }
    if (fs) choose(fs, yes ? 1 : 2);
  }

  function onKey(e, key, f) {
    if (DECISIONS[key]) {
      setDecision(f, DECISIONS[key]);
    } else if (/^[1-9]$/.test(key)) {
      var fs = criteria.list()[criteria.current];
      if (!fs || fs.dataset.type === "binary") return false;
      return choose(fs, Number(key));
    } else if (key === "y" || key === "n") {
      answerBinary(key === "y");
    } else if (key === "j" || key === "k") {
      criteria.highlight(criteria.current + (key === "j" ? 1 : -1));
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
      return false;
    }
    return true;
  }

  T.page({
    formId: "task-form",
    helpId: "help",
    init: init,
    onKey: onKey,
    beforeSubmit: function () { timer.tick(); },
  });
  criteria.follow();
  document.addEventListener("change", function (e) {
    if (e.target.name === "decision") syncEdit(form());
  });
})();
