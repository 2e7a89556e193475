// Tether web UI: live updates of the run and log pages, confirmations, and a JSON check of
// the run-config editor. Plain JavaScript, no build step; every page works without it.
"use strict";

function pollRun(root) {
  let afterId = root.dataset.afterId || "0";
  const live = root.dataset.live === "true";
  const rows = document.getElementById("event-rows");
  async function tick() {
    try {
      const url = root.dataset.updates + "?after_id=" + afterId + (root.dataset.filter || "");
      const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (response.status === 401 || response.redirected) { return; }
      if (response.ok) {
        const update = await response.json();
        document.getElementById("run-summary").innerHTML = update.summary;
        document.getElementById("run-steps").innerHTML = update.steps;
        document.getElementById("run-actions").innerHTML = update.actions;
        if (live && update.events.trim()) { rows.insertAdjacentHTML("beforeend", update.events); }
        afterId = String(update.after_id);
        document.getElementById("event-total").textContent = update.total;
        root.dataset.status = update.status;
        if (update.done) { root.dataset.done = "true"; return; }
      }
    } catch (error) {
      // the control plane may be restarting: try again on the next tick
    }
    setTimeout(tick, 1000);
  }
  if (root.dataset.done !== "true") { setTimeout(tick, 1000); }
}

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

function checkJson(form) {
  const field = form.elements[form.dataset.jsonField];
  const message = document.getElementById(field.id + "-error");
  form.addEventListener("submit", (event) => {
    const text = field.value.trim();
    let problem = null;
    if (text) {
      try {
        const value = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          problem = "The run config must be a JSON object, like {\"ops\": {}}.";
        }
      } catch (error) {
        problem = "The run config is not valid JSON: " + error.message;
      }
    }
    if (problem) {
      event.preventDefault();
      message.textContent = problem;
      message.hidden = false;
      field.setAttribute("aria-invalid", "true");
      field.focus();
    } else {
      message.hidden = true;
      field.removeAttribute("aria-invalid");
    }
  });
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (run) { pollRun(run); }
  const runs = document.getElementById("runs-list");
  if (runs && runs.dataset.refresh === "true") { refreshRuns(runs); }
  const log = document.getElementById("log-text");
  if (log) { pollLog(log); }
  document.querySelectorAll("form[data-json-field]").forEach(checkJson);
});
