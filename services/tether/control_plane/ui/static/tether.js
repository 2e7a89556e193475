// Tether web UI: live updates of the runs list and the log page, and confirmations (the run
// page has run.js, the launch form launchpad.js). Plain JavaScript, no build step; every
// page works without it.
"use strict";

function pollLog(pre) {
  let lastId = pre.dataset.lastId || "0";
  async function tick() {
    try {
      const response = await fetch(pre.dataset.poll + "&after_id=" + lastId, {credentials: "same-origin"});
      if (response.ok) {
        const update = await response.json();
        if (update.text) {
          pre.append(update.text);
          const empty = document.getElementById("log-empty");
          if (empty) { empty.remove(); }
        }
        lastId = String(update.last_id);
        if (update.done) { pre.dataset.done = "true"; return; }
      }
    } catch (error) {
      // try again on the next tick
    }
    setTimeout(tick, 1000);
  }
  if (pre.dataset.done !== "true") { setTimeout(tick, 1000); }
}

function refreshRuns(list) {
  async function tick() {
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin", headers: {"X-Tether-Fragment": "runs-list"}});
      if (response.ok && !response.redirected) {
        const html = await response.text();
        if (html !== list.dataset.last) { list.innerHTML = html; list.dataset.last = html; }
      }
    } catch (error) {
      // try again on the next tick
    }
    setTimeout(tick, 3000);
  }
  setTimeout(tick, 3000);
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);

// the header's deployment switcher switches as soon as another one is picked (its button
// does the same without script)
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select.matches && select.matches("select[data-submit-on-change]")) { select.form.submit(); }
});

document.addEventListener("DOMContentLoaded", () => {
  const runs = document.getElementById("runs-list");
  if (runs && runs.dataset.refresh === "true") { refreshRuns(runs); }
  const log = document.getElementById("log-text");
  if (log) { pollLog(log); }
});
