/* The rubric builder (templates/annotation/_rubric.html): add, remove and move criteria without a
 * round trip, show the labels field only for "labels" criteria, keep the formset's ORDER inputs in
 * the order shown, and ask htmx for a fresh preview ("rubric-changed") after each change. Enter in a
 * one-line field does not save; Ctrl+Enter does.
 * Without this file the form still works: ORDER numbers and Delete boxes are shown instead. */
(function () {
  "use strict";

  function builder() { return document.getElementById("rubric-builder"); }

  function rows(f) {
    return Array.prototype.filter.call(f.querySelectorAll("[data-criterion]"), function (r) { return !r.hidden; });
  }

  function field(row, name) { return row.querySelector("[name$='-" + name + "']"); }

  function renumber(f) {
    var live = rows(f);
    live.forEach(function (row, i) {
      var order = field(row, "ORDER");
      if (order) order.value = String(i + 1);
      var n = row.querySelector("[data-number]");
      if (n) n.textContent = String(i + 1);
      var up = row.querySelector("[data-move=up]"), down = row.querySelector("[data-move=down]");
      var remove = row.querySelector("[data-remove]");
      if (up) { up.disabled = i === 0; up.setAttribute("aria-label", "Move up criterion " + (i + 1)); }
      if (down) { down.disabled = i === live.length - 1; down.setAttribute("aria-label", "Move down criterion " + (i + 1)); }
      if (remove) remove.setAttribute("aria-label", "Remove criterion " + (i + 1));
    });
  }

  function syncType(row) {
    var type = field(row, "type");
    var labels = row.querySelector("[data-labels-field]");
    var note = row.querySelector("[data-likert-note]");
    if (!type) return;
    if (labels) labels.hidden = type.value !== "labels";
    if (note) note.hidden = type.value !== "likert";
  }

  function enhance(row) {
    Array.prototype.forEach.call(row.querySelectorAll(".js-only"), function (e) { e.hidden = false; });
    Array.prototype.forEach.call(row.querySelectorAll(".no-js"), function (e) { e.hidden = true; });
  }

  function changed(f) {
    renumber(f);
    if (window.htmx) window.htmx.trigger(f, "rubric-changed");
  }

  function init() {
    var f = builder();
    if (!f || f.dataset.enhanced) return;
    f.dataset.enhanced = "1";
    enhance(f);
    Array.prototype.forEach.call(f.querySelectorAll("[data-criterion]"), function (row) {
      var del = field(row, "DELETE");
      if (del && del.checked) row.hidden = true;  // removed before a refused save: stays removed
      syncType(row);
    });
    renumber(f);
  }

  function add(f) {
    var template = document.getElementById("criterion-template");
    var total = f.querySelector("input[name$='-TOTAL_FORMS']");
    if (!template || !total) return;
    var index = parseInt(total.value, 10) || 0;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.querySelector("[data-criterion]");
    document.getElementById("criteria-list").appendChild(row);
    total.value = String(index + 1);
    enhance(row);
    syncType(row);
    changed(f);
    var first = field(row, "label");
    if (first) first.focus();
  }

  function move(f, row, direction, button) {
    var live = rows(f), i = live.indexOf(row);
    if (direction === "up" && i > 0) live[i - 1].before(row);
    else if (direction === "down" && i < live.length - 1) live[i + 1].after(row);
    else return;
    changed(f);
    if (!button.disabled) button.focus();
    else (row.querySelector(direction === "up" ? "[data-move=down]" : "[data-move=up]") || button).focus();
  }

  function remove(f, row) {
    var live = rows(f), i = live.indexOf(row);
    var del = field(row, "DELETE");
    if (del) del.checked = true;
    row.hidden = true;
    changed(f);
    var next = live[i + 1] || live[i - 1];
    var target = next ? field(next, "label") : document.getElementById("add-criterion");
    if (target) target.focus();
  }

  document.addEventListener("click", function (event) {
    var f = builder();
    var button = event.target.closest && event.target.closest("button");
    if (!f || !button || !f.contains(button)) return;
    var row = button.closest("[data-criterion]");
    if (button.id === "add-criterion") add(f);
    else if (row && button.dataset.move) move(f, row, button.dataset.move, button);
    else if (row && button.hasAttribute("data-remove")) remove(f, row);
  });

  document.addEventListener("change", function (event) {
    var row = event.target.closest && event.target.closest("[data-criterion]");
    if (row && /-type$/.test(event.target.name || "")) syncType(row);
  });

  // Enter in a one-line field would save a version by accident: only Ctrl+Enter (or the button) saves.
  document.addEventListener("keydown", function (event) {
    var f = builder();
    if (!f || event.key !== "Enter" || !f.contains(event.target)) return;
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      f.requestSubmit();
    } else if (event.target.tagName === "INPUT" && event.target.type !== "checkbox") {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
