/* Curated pairs page: a row cursor (j / k), selection (x, a row's box, Shift+click for a range, the
 * header box for every row shown), a approves and e excludes the selection, or the cursor's pair
 * when nothing is selected (through that row's own button, so a harmful-majority pair still asks).
 * Esc clears the selection; ? and the "am I typing" rule come from shortcuts.js. The selection is
 * the rows' checkboxes (form="pairs-bulk"), so the page works without this script too. */
(function () {
  "use strict";
  var cursorId = null;  // the cursor's pair id: survives the panel's and a row's htmx swaps
  var anchor = null;    // the pair id of the last box clicked (the start of a Shift+click range)

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#pairs tr.pair-row")); }
  function box(row) { return row.querySelector("input.pair-select"); }
  function selected() { return rows().filter(function (r) { var b = box(r); return b && b.checked; }); }

  function refresh() {
    var list = rows(), chosen = selected();
    list.forEach(function (r) { r.classList.toggle("selected", box(r) && box(r).checked); });
    var count = document.getElementById("selected-count");
    if (count) count.textContent = chosen.length + " selected";
    var all = document.getElementById("select-all");
    if (all) {
      all.checked = list.length > 0 && chosen.length === list.length;
      all.indeterminate = chosen.length > 0 && chosen.length < list.length;
    }
  }

  function cursorIndex() {
    return rows().findIndex(function (r) { return r.dataset.pair === cursorId; });
  }

  function moveTo(i, focus) {
    var list = rows();
    if (!list.length) return;
    i = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (r, n) {
      r.classList.toggle("cursor", n === i);
      if (n === i) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
    cursorId = list[i].dataset.pair;
    if (focus) {
      list[i].focus({ preventScroll: true });
      list[i].scrollIntoView({ block: "nearest" });
    }
  }

  function init() {
    var i = cursorIndex();
    if (i >= 0) moveTo(i, false); else cursorId = null;
    refresh();
  }

  function act(status) {
    var chosen = selected();
    if (chosen.length) {
      var button = document.getElementById(status === "approved" ? "bulk-approve" : "bulk-exclude");
      if (button) button.click();
      return true;
    }
    var list = rows(), i = cursorIndex();
    if (i < 0) return false;
    var own = list[i].querySelector("button[data-status='" + status + "']");
    if (own) own.click();
    return true;
  }

  function onKey(e, key) {
    var i = cursorIndex();
    if (key === "j") moveTo(i < 0 ? 0 : i + 1, true);
    else if (key === "k") moveTo(i < 0 ? 0 : i - 1, true);
    else if (key === "x") {
      if (i < 0) return false;
      var b = box(rows()[i]);
      b.checked = !b.checked;
      anchor = cursorId;
      refresh();
    } else if (key === "a") return act("approved");
    else if (key === "e") return act("excluded");
    else return false;
    return true;
  }

  function clearSelection() {
    rows().forEach(function (r) { var b = box(r); if (b) b.checked = false; });
    refresh();
  }

  document.addEventListener("click", function (e) {
    var target = e.target;
    if (!target.closest) return;
    if (target.id === "select-all") {
      rows().forEach(function (r) { var b = box(r); if (b) b.checked = target.checked; });
      refresh();
      return;
    }
    var row = target.closest("#pairs tr.pair-row");
    if (!row) return;
    var list = rows(), here = list.indexOf(row);
    if (target.classList.contains("pair-select")) {
      var from = list.findIndex(function (r) { return r.dataset.pair === anchor; });
      if (e.shiftKey && from >= 0) {
        var lo = Math.min(from, here), hi = Math.max(from, here);
        for (var n = lo; n <= hi; n++) box(list[n]).checked = target.checked;
      }
      anchor = row.dataset.pair;
      refresh();
    }
    moveTo(here, false);  // a click anywhere in a row puts the cursor there
  });

  // htmx settles a swapped row's attributes (class included) to the server's after the swap: the
  // cursor and selection classes go back on once it has.
  document.addEventListener("htmx:afterSettle", init);
  window.Tuneloop.page({
    formId: "pairs-bulk", helpId: "pairs-help", init: init, onKey: onKey, onEscape: clearSelection, ctrlEnter: false,
  });
})();
