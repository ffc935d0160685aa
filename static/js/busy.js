/* Feedback on every action, by construction (loaded by base.html on every page): while a request
 * that a person started is pending, the button that sent it is disabled and shows "Working…"
 * (aria-busy, a spinner, a status line), until the response arrives.
 *
 * - htmx requests started by a submit or a click (polls are not actions): from htmx:beforeRequest
 *   to htmx:afterRequest; a response that leaves the page (HX-Redirect, HX-Refresh) keeps it busy.
 * - plain forms: from submit until the next page replaces this one; a page restored from the
 *   back-forward cache comes back idle. The button is disabled just after the submit event, once
 *   the browser has read the form (a disabled submitter would leave its name out of it).
 * - a form that may answer with a file (data-busy="download": the page stays) sends a
 *   download_token; the server's response sets the tl_download cookie to it
 *   (annotation.core.web.mark_download), and the form is idle again once the cookie appears.
 * - a busy form takes no second submit (a double click, Enter again).
 * A form or button with data-busy="off" opts out (the annotators' keyboard task forms: the hot
 * path, one request at a time through hx-sync). */
(function () {
  "use strict";
  var LABEL = "Working…";
  var busy = [];  // elements marked busy: [{el, buttons}]

  function optedOut(el) {
    return !!(el && el.closest && el.closest("[data-busy=off]"));
  }
  function downloadToken(form) {
    var input = form.querySelector("input[name=download_token]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "download_token";
      form.appendChild(input);
    }
    input.value = Math.random().toString(36).slice(2, 14);
    return input.value;
  }
  function watchDownload(form, token) {
    var cookie = "tl_download=" + token;
    var timer = setInterval(function () {
      if (!form.isConnected) { clearInterval(timer); return; }
      if (document.cookie.split("; ").indexOf(cookie) >= 0) {
        clearInterval(timer);
        document.cookie = "tl_download=; Max-Age=0; Path=/; SameSite=Lax";
        stop(form);
      }
    }, 250);
  }
  function isButton(el) {
    return el && (el.tagName === "BUTTON" || (el.tagName === "INPUT" && /^(submit|image|button)$/i.test(el.type)));
  }
  function submitButtons(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return isButton(el) && el.type !== "button" && el.type !== "reset";
    });
  }
  function isBusy(el) {
    return busy.some(function (b) { return b.el === el; });
  }

  /* Mark `el` (a form, a button, a link) busy; `submitter` is the button that sent a form. */
  function start(el, submitter) {
    if (!el || isBusy(el)) return;
    var buttons = el.tagName === "FORM" ? (submitter ? [submitter] : submitButtons(el)) : [el];
    var marked = [];
    el.setAttribute("aria-busy", "true");
    el.classList.add("is-busy");
    buttons.forEach(function (b, i) {
      if (!b.isConnected) return;
      b.classList.add("is-busy");
      b.setAttribute("aria-busy", "true");
      if (isButton(b) && !b.disabled) {
        b.disabled = true;
        b.setAttribute("data-busy-disabled", "");
      }
      if (i === 0) {
        var note = document.createElement("span");
        note.className = "busy-indicator";
        note.setAttribute("role", "status");
        note.textContent = LABEL;
        b.insertAdjacentElement("afterend", note);
        marked.push(note);
      }
    });
    busy.push({ el: el, buttons: buttons, notes: marked });
  }

  function stop(el) {
    busy = busy.filter(function (b) {
      if (el && b.el !== el) return true;
      b.el.removeAttribute("aria-busy");
      b.el.classList.remove("is-busy");
      b.buttons.forEach(function (btn) {
        btn.classList.remove("is-busy");
        btn.removeAttribute("aria-busy");
        if (btn.hasAttribute("data-busy-disabled")) {
          btn.disabled = false;
          btn.removeAttribute("data-busy-disabled");
        }
      });
      b.notes.forEach(function (n) { n.remove(); });
      return false;
    });
  }

  // A busy form takes no second submit (capture: before htmx's own listener on the form).
  document.addEventListener("submit", function (e) {
    if (isBusy(e.target)) { e.preventDefault(); e.stopPropagation(); }
  }, true);

  // Plain forms: htmx and the page scripts prevent the default of the forms they send themselves.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || optedOut(form) || optedOut(e.submitter)) return;
    if ((e.submitter && e.submitter.getAttribute("formtarget")) || (form.target && form.target !== "_self")) return;
    var submitter = e.submitter || null;
    var token = form.getAttribute("data-busy") === "download" ? downloadToken(form) : null;
    setTimeout(function () {
      start(form, submitter);
      if (token) watchDownload(form, token);
    }, 0);
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) stop(null); });

  // htmx: only requests a person started (a submit or a click), not polls or loads.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var d = e.detail || {};
    var trigger = d.requestConfig && d.requestConfig.triggeringEvent;
    if (!trigger || (trigger.type !== "submit" && trigger.type !== "click")) return;
    var el = d.elt;
    if (!el || optedOut(el) || optedOut(trigger.submitter)) return;
    start(el, trigger.type === "submit" ? trigger.submitter || null : null);
  });
  function done(e) {
    var d = e.detail || {};
    var xhr = d.xhr;
    if (xhr && xhr.status < 400 && (xhr.getResponseHeader("HX-Redirect") || xhr.getResponseHeader("HX-Refresh") === "true")) return;
    stop(d.elt);
  }
  ["htmx:afterRequest", "htmx:sendError", "htmx:timeout", "htmx:sendAbort"].forEach(function (name) {
    document.addEventListener(name, done);
  });
})();
