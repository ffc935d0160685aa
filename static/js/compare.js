/* Comparison page: keyboard shortcuts and the N-way ranking (keys, drag and drop, a focused card
 * moved with the arrow keys, text field kept in sync); m and w call compare_view.js (Markdown / raw,
 * word differences); Ctrl+Enter, Esc, ? and the timer come from shortcuts.js. Works on every htmx
 * swap of #task. Response text is only ever set with textContent here. */
(function () {
  "use strict";
  var T = window.Tuneloop;
  var PAIR_CHOICES = { a: "A", b: "B", t: "tie", x: "both_bad" };
  var timer = new T.Timer();
  var criteria = new T.Criteria("#compare-form");
  var harmPending = false;
  var tiePending = false;
  var seq = [];          // N-way ranking: [{slot, tie}] best first; tie = tied with the previous entry
  var refocus = null;    // after a re-render: {slot, part} to give the focus back to
  var view = T.compareView;  // compare_view.js: Markdown / raw, word differences

  function form() { return document.getElementById("compare-form"); }
  function mode() { var f = form(); return f ? f.dataset.mode : ""; }
  function slots() { var f = form(); return f ? (f.dataset.slots || "").split("") : []; }

  // --- ranking state ---------------------------------------------------------------------------
  function rankingText() {
    return seq.map(function (e, i) { return (i === 0 ? "" : (e.tie ? "=" : ">")) + e.slot; }).join("");
  }

  function parseRanking(text) {
    var valid = slots(), out = [], seen = {}, tie = false;
    (text || "").toUpperCase().split("").forEach(function (ch) {
      if (ch === "=") { tie = true; return; }
      if (ch === ">") { tie = false; return; }
      if (valid.indexOf(ch) === -1 || seen[ch]) return;
      seen[ch] = true;
      out.push({ slot: ch, tie: tie && out.length > 0 });
      tie = false;
    });
    return out;
  }

  function syncText() {
    var input = document.getElementById("ranking");
    if (input) input.value = rankingText();
  }

  function snippet(slot) {
    var el = document.getElementById("response-" + slot);
    var text = el ? el.textContent.replace(/\s+/g, " ").trim() : "";
    return text.length > 160 ? text.slice(0, 160) + "…" : text;
  }

  function button(action, slot, text, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.dataset.rankAction = action;
    b.dataset.slot = slot;
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.title = label;
    return b;
  }

  function card(slot, index, ranked) {
    var li = document.createElement("li");
    li.className = "rank-card";
    li.draggable = true;
    li.dataset.slot = slot;
    li.tabIndex = 0;
    li.setAttribute("aria-label", "Response " + slot + (ranked ? ", place " + (index + 1) + " of " + seq.length : ", not ranked"));
    var letter = document.createElement("strong");
    letter.className = "rank-slot";
    letter.textContent = slot;
    var text = document.createElement("span");
    text.className = "rank-snippet";
    text.textContent = snippet(slot);
    li.appendChild(letter);
    li.appendChild(text);
    if (ranked && index > 0) {
      var label = document.createElement("label");
      label.className = "tie-toggle small";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.className = "tie-box";
      box.checked = !!seq[index].tie;
      box.dataset.index = String(index);
      label.appendChild(box);
      label.appendChild(document.createTextNode(" tie with above"));
      li.appendChild(label);
      if (seq[index].tie) li.classList.add("tied");
    }
    var moves = document.createElement("span");
    moves.className = "rank-move";
    if (ranked) {
      moves.appendChild(button("up", slot, "↑", "Move " + slot + " up"));
      moves.appendChild(button("down", slot, "↓", "Move " + slot + " down"));
      moves.appendChild(button("remove", slot, "×", "Take " + slot + " out of the ranking"));
    } else {
      moves.appendChild(button("add", slot, "Rank", "Add " + slot + " to the ranking"));
    }
    li.appendChild(moves);
    if (ranked) li.dataset.index = String(index);
    return li;
  }

  function renderRanking() {
    var list = document.getElementById("rank-list");
    var pool = document.getElementById("rank-pool");
    if (!list || !pool) return;
    list.textContent = "";
    pool.textContent = "";
    var rank = 0;
    seq.forEach(function (e, i) {
      if (!e.tie || i === 0) rank += 1;
      var li = card(e.slot, i, true);
      li.dataset.rank = String(rank);
      list.appendChild(li);
    });
    var used = seq.map(function (e) { return e.slot; });
    slots().forEach(function (s) { if (used.indexOf(s) === -1) pool.appendChild(card(s, -1, false)); });
    if (tiePending) list.classList.add("tie-pending"); else list.classList.remove("tie-pending");
    if (refocus) {
      var target = document.querySelector(".rank-card[data-slot='" + refocus.slot + "']");
      if (target && refocus.part) target = target.querySelector("[data-rank-action=" + refocus.part + "]") || target;
      if (target) target.focus();
      refocus = null;
    }
  }

  function announce(text) {
    var status = document.getElementById("rank-status");
    if (status) status.textContent = text;
  }

  // A ranked card one place up or down: the slots swap, the ties stay with the places.
  function shift(slot, step, part) {
    var i = seq.findIndex(function (e) { return e.slot === slot; });
    var j = i + step;
    if (i === -1 || j < 0 || j >= seq.length) return;
    var next = seq.map(function (e) { return { slot: e.slot, tie: e.tie }; });
    next[i].slot = seq[j].slot;
    next[j].slot = slot;
    refocus = { slot: slot, part: part || "" };
    setSeq(next);
    announce(slot + " moved to place " + (j + 1) + " of " + seq.length);
  }

  function unrank(slot, part) {
    var i = seq.findIndex(function (e) { return e.slot === slot; });
    if (i === -1) return;
    refocus = { slot: slot, part: part ? "add" : "" };
    setSeq(removeAt(i));
    announce(slot + " taken out of the ranking");
  }

  function rankAction(action, slot, fromButton) {
    if (action === "up" || action === "down") shift(slot, action === "up" ? -1 : 1, fromButton ? action : "");
    else if (action === "remove") unrank(slot, fromButton);
    else if (action === "add") {
      refocus = { slot: slot, part: fromButton ? "remove" : "" };
      appendSlot(slot);
      announce(slot + " ranked at place " + seq.length);
    }
  }

  function setSeq(next, fromText) {
    seq = next;
    if (seq.length) seq[0].tie = false;
    if (!fromText) syncText();
    renderRanking();
  }

  function removeAt(i) {
    var removed = seq[i];
    var next = seq.slice();
    next.splice(i, 1);
    if (removed && !removed.tie && next[i]) next[i] = { slot: next[i].slot, tie: false };
    return next;
  }

  function appendSlot(slot) {
    if (seq.some(function (e) { return e.slot === slot; })) return;
    var next = seq.concat([{ slot: slot, tie: tiePending && seq.length > 0 }]);
    tiePending = false;
    setSeq(next);
  }

  function moveSlot(slot, beforeIndex) {
    var i = seq.findIndex(function (e) { return e.slot === slot; });
    var next = seq.slice();
    var targetSlot = beforeIndex != null && seq[beforeIndex] ? seq[beforeIndex].slot : null;
    if (i !== -1) next = removeAt(i);
    if (targetSlot === slot) { setSeq(seq.slice()); return; }
    var j = targetSlot ? next.findIndex(function (e) { return e.slot === targetSlot; }) : -1;
    if (j === -1) next.push({ slot: slot, tie: false });
    else next.splice(j, 0, { slot: slot, tie: next[j].tie });
    setSeq(next);
  }

  function undo() {
    if (tiePending) { tiePending = false; renderRanking(); return; }
    if (seq.length) setSeq(seq.slice(0, -1));
  }

  // --- pairwise and criteria --------------------------------------------------------------------
  function setChoice(value) {
    var radio = form().querySelector("input[name=choice][value=" + value + "]");
    if (radio) radio.checked = true;
  }

  function setStrength(n) {
    var radio = form().querySelector("input[name=strength][value='" + n + "']");
    if (radio) radio.checked = true;
  }

  function answerCriterion(value) {
    var fs = criteria.list()[criteria.current];
    if (!fs) return false;
    var radio = fs.querySelector("input[type=radio][value=" + value + "]");
    if (!radio) return false;
    radio.checked = true;
    criteria.advance(criteria.current);
    return true;
  }

  // N-way, per criterion: Shift+letter appends a response to the highlighted criterion's ranking,
  // "+" (Shift+=) ties the next one with the previous, Shift+Backspace removes the last one.
  function criterionBox() {
    var fs = criteria.list()[criteria.current];
    return fs ? fs.querySelector("input[type=text]") : null;
  }

  function criterionAppend(slot) {
    var box = criterionBox();
    if (!box) return false;
    var text = box.value.toUpperCase().replace(/[^A-Z=>]/g, "");
    if (text.indexOf(slot) !== -1) return true;
    if (text && !/[=>]$/.test(text)) text += ">";
    box.value = text + slot;
    var done = slots().every(function (s) { return box.value.indexOf(s) !== -1; });
    if (done && criteria.current < criteria.list().length - 1) criteria.highlight(criteria.current + 1);
    return true;
  }

  function criterionTie() {
    var box = criterionBox();
    if (!box || !box.value || /[=>]$/.test(box.value)) return false;
    box.value += "=";
    return true;
  }

  function criterionUndo() {
    var box = criterionBox();
    if (!box || !box.value) return false;
    // one step back: a trailing tie mark, or the last response (with the ">" added before it; a
    // "=" typed before it was a step of its own and stays)
    box.value = /[=>]$/.test(box.value) ? box.value.slice(0, -1) : box.value.replace(/>?[A-Z]$/i, "");
    return true;
  }

  function toggleHarmful(slot) {
    var box = form().querySelector("input[name=harmful][value=" + slot + "]");
    if (box) box.checked = !box.checked;
  }

  function setHarmPending(on) {
    harmPending = on;
    var hint = document.getElementById("harm-hint");
    if (hint) hint.hidden = !on;
  }

  function focusBox(id, open) {
    if (open) { var d = document.getElementById(open); if (d) d.open = true; }
    var el = document.getElementById(id);
    if (el) el.focus();
  }

  // --- setup on load and after each swap -------------------------------------------------------
  function init() {
    var f = form();
    timer.stop();
    setHarmPending(false);
    tiePending = false;
    var heading = document.getElementById("progress");
    if (heading && !(f && f.querySelector(".error-summary"))) heading.focus({ preventScroll: true });
    if (!f) return;
    timer.restart(parseFloat(f.dataset.elapsed) || 0);
    criteria.first();
    view.apply();
    if (mode() === "rank") {
      var zones = f.querySelector(".rank-zones");
      if (zones) {
        zones.hidden = false;
        // the ranking's height for every card (CSS reads --slots; set here, no inline style under the CSP)
        zones.style.setProperty("--slots", zones.dataset.slots || "2");
      }
      var input = document.getElementById("ranking");
      seq = parseRanking(input ? input.value : "");
      renderRanking();
    }
    var firstError = f.querySelector(".field-error");
    if (firstError && firstError.scrollIntoView) firstError.scrollIntoView({ block: "center" });
  }

  function onKey(e, key) {
    var raw = e.key;
    var slot = raw.length === 1 ? raw.toUpperCase() : "";
    var isSlot = slot && slots().indexOf(slot) !== -1;
    var focused = document.activeElement && document.activeElement.closest ?
      document.activeElement.closest(".rank-card") : null;
    var onCard = focused && document.activeElement === focused;
    if (mode() === "rank" && focused && !harmPending && (raw === "ArrowUp" || raw === "ArrowDown")) {
      if (!focused.closest("#rank-list")) return false;
      shift(focused.dataset.slot, raw === "ArrowUp" ? -1 : 1, onCard ? "" : (raw === "ArrowUp" ? "up" : "down"));
    } else if (mode() === "rank" && onCard && !harmPending && raw === "Delete") {
      unrank(focused.dataset.slot, false);
    } else if (mode() === "rank" && onCard && !harmPending && raw === "Enter" && focused.closest("#rank-pool")) {
      rankAction("add", focused.dataset.slot, false);
    } else if (harmPending) {
      if (isSlot) toggleHarmful(slot);
      setHarmPending(false);
    } else if (mode() === "rank" && isSlot && !e.shiftKey) {
      appendSlot(slot);
    } else if (mode() === "rank" && isSlot && e.shiftKey) {
      return criterionAppend(slot);
    } else if (mode() === "rank" && raw === "+") {
      return criterionTie();
    } else if (mode() === "rank" && raw === "Backspace" && e.shiftKey) {
      return criterionUndo();
    } else if (mode() === "rank" && raw === "=") {
      tiePending = seq.length > 0;
      renderRanking();
    } else if (mode() === "rank" && raw === "Backspace") {
      undo();
    } else if (mode() === "pair" && e.shiftKey && (key === "a" || key === "b" || key === "t")) {
      return answerCriterion(key === "t" ? "tie" : key.toUpperCase());
    } else if (mode() === "pair" && PAIR_CHOICES[key]) {
      setChoice(PAIR_CHOICES[key]);
    } else if (mode() === "pair" && /^[1-3]$/.test(key)) {
      setStrength(key);
    } else if (key === "j" || key === "k") {
      criteria.highlight(criteria.current + (key === "j" ? 1 : -1));
    } else if (key === "m") {
      view.toggleView();
    } else if (key === "w") {
      view.toggleDiff();
    } else if (key === "h") {
      setHarmPending(true);
    } else if (key === "i") {
      focusBox("improved_text", "improve-box");
    } else if (key === "r") {
      focusBox("comment");
    } else if (key === "s") {
      var skip = document.getElementById("skip-button");
      if (skip) skip.click();
    } else {
      return false;
    }
    return true;
  }

  // The ranking text field: typing there re-renders the cards without rewriting what is typed.
  document.addEventListener("input", function (e) {
    if (e.target.id === "ranking") setSeq(parseRanking(e.target.value), true);
  });
  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("tie-box")) {
      var i = Number(e.target.dataset.index);
      var next = seq.slice();
      next[i] = { slot: next[i].slot, tie: e.target.checked };
      setSeq(next);
    }
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-rank-action]");
    if (b && form() && form().contains(b)) rankAction(b.dataset.rankAction, b.dataset.slot, true);
  });
  criteria.follow();

  // HTML5 drag and drop: onto the upper / lower half of a ranked card = before / after it; onto the ranking = last; onto the pool = unrank.
  document.addEventListener("dragstart", function (e) {
    var c = e.target.closest && e.target.closest(".rank-card");
    if (!c) return;
    e.dataTransfer.setData("text/plain", c.dataset.slot);
    e.dataTransfer.effectAllowed = "move";
    c.classList.add("dragging");
  });
  document.addEventListener("dragend", function (e) {
    var c = e.target.closest && e.target.closest(".rank-card");
    if (c) c.classList.remove("dragging");
    clearDropMarks();
  });
  function clearDropMarks() {
    document.querySelectorAll(".rank-list.drop-over").forEach(function (z) { z.classList.remove("drop-over"); });
  }
  document.addEventListener("dragover", function (e) {
    var zone = e.target.closest && e.target.closest(".rank-list");
    if (!zone) return;
    e.preventDefault();
    if (!zone.classList.contains("drop-over")) { clearDropMarks(); zone.classList.add("drop-over"); }
  });
  document.addEventListener("dragleave", function (e) {
    var zone = e.target.closest && e.target.closest(".rank-list");
    if (zone && !zone.contains(e.relatedTarget)) zone.classList.remove("drop-over");
  });
  document.addEventListener("drop", function (e) {
    var zone = e.target.closest && e.target.closest(".rank-list");
    clearDropMarks();
    if (!zone) return;
    e.preventDefault();
    var slot = e.dataTransfer.getData("text/plain");
    if (slots().indexOf(slot) === -1) return;
    if (zone.id === "rank-pool") {
      var i = seq.findIndex(function (x) { return x.slot === slot; });
      if (i !== -1) setSeq(removeAt(i));
      return;
    }
    var target = e.target.closest(".rank-card");
    var index = target && target.dataset.index !== undefined ? Number(target.dataset.index) : null;
    if (index !== null) {
      // The lower half of a card means "after it".
      var rect = target.getBoundingClientRect();
      if (e.clientY > rect.top + rect.height / 2) index = index + 1 < seq.length ? index + 1 : null;
    }
    moveSlot(slot, index);
  });

  T.page({
    formId: "compare-form",
    helpId: "help",
    init: init,
    onKey: onKey,
    onEscape: function () { setHarmPending(false); },
    beforeSubmit: function () { timer.tick(); },
  });
})();
