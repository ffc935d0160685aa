/* Comparison page: how the responses are shown. Markdown (rendered and sanitised on the server) or
 * the raw text (m), and the word differences between two responses (w), loaded from the server as a
 * partial in which every word of a response is escaped. Both choices are remembered in the browser,
 * so they hold for the next comparison. compare.js calls apply() after each swap and the toggles
 * from its keys; the buttons and the N-way pickers are wired here. */
(function () {
  "use strict";
  var diffRequest = 0;   // the newest differences request; older answers are dropped
  var VIEW_KEY = "tuneloop.compare.view";
  var DIFF_KEY = "tuneloop.compare.diff";

  function remembered(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function remember(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  function applyView() {
    var raw = remembered(VIEW_KEY) === "raw";
    var box = document.getElementById("responses");
    var toggle = document.getElementById("view-toggle");
    if (box) box.dataset.view = raw ? "raw" : "markdown";
    if (toggle) {
      toggle.setAttribute("aria-pressed", raw ? "true" : "false");
      toggle.firstChild.textContent = raw ? "Show Markdown " : "Show raw text ";
    }
  }

  function toggleView() {
    remember(VIEW_KEY, remembered(VIEW_KEY) === "raw" ? "markdown" : "raw");
    applyView();
  }

  function loadDiff() {
    var box = document.getElementById("diff-box");
    var body = document.getElementById("diff-body");
    if (!box || !body) return;
    var left = document.getElementById("diff-left");
    var right = document.getElementById("diff-right");
    var query = "?left=" + encodeURIComponent(left ? left.value : "A") +
                "&right=" + encodeURIComponent(right ? right.value : "B");
    var mine = ++diffRequest;
    body.dataset.state = "loading";
    fetch(box.dataset.url + query, { credentials: "same-origin" })
      .then(function (r) { return r.text().then(function (html) { return { ok: r.ok, html: html }; }); })
      .then(function (res) {
        if (mine !== diffRequest || !document.body.contains(body)) return;
        body.innerHTML = res.html;  // the server's partial: every response word is escaped there
        body.dataset.state = res.ok ? "ready" : "error";
      })
      .catch(function () {
        if (mine !== diffRequest) return;
        body.textContent = "The differences could not be loaded.";
        body.dataset.state = "error";
      });
  }

  function applyDiff(load) {
    var on = remembered(DIFF_KEY) === "on";
    var box = document.getElementById("diff-box");
    var toggle = document.getElementById("diff-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    if (!box) return;
    box.hidden = !on;
    if (on && load) loadDiff();
  }

  function toggleDiff() {
    remember(DIFF_KEY, remembered(DIFF_KEY) === "on" ? "off" : "on");
    applyDiff(true);
  }

  document.addEventListener("change", function (e) {
    if (e.target.id === "diff-left" || e.target.id === "diff-right") loadDiff();
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("#view-toggle, #diff-toggle");
    if (b && b.id === "view-toggle") toggleView();
    else if (b) toggleDiff();
  });

  window.Tuneloop.compareView = {
    apply: function () { applyView(); applyDiff(true); },
    toggleView: toggleView,
    toggleDiff: toggleDiff,
  };
})();
