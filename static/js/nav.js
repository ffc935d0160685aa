// The project navigation's groups (<details> dropdowns, usable without this file): one open at a time;
// Escape closes the open one and gives the focus back to its summary; a click elsewhere closes it.
(function () {
  "use strict";
  const groups = () => document.querySelectorAll("details.nav-group");
  document.addEventListener("toggle", (event) => {
    const opened = event.target;
    if (!(opened instanceof HTMLDetailsElement) || !opened.classList.contains("nav-group") || !opened.open) return;
    groups().forEach((g) => { if (g !== opened) g.open = false; });
  }, true);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = document.querySelector("details.nav-group[open]");
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
    event.stopPropagation();
  }, true);
  document.addEventListener("click", (event) => {
    groups().forEach((g) => { if (g.open && !g.contains(event.target)) g.open = false; });
  });
})();
