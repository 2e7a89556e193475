// The run page: its live updates (status, failure, timeline, the log's new lines and the
// compute output's), the log filtered in place by step, level and text (the server searches),
// and the timeline's hover card and bars that filter the log to their step. Plain
// JavaScript, no build step; without it the page works through links and forms.
"use strict";
document.documentElement.classList.add("js");

function runPage(root) {
  const rows = document.getElementById("event-rows");
  const form = document.getElementById("log-filter");
  const more = document.getElementById("more-events");
  const state = document.getElementById("log-state");
  const clear = document.getElementById("clear-filter");
  const output = document.getElementById("compute-log");
  const outputPage = document.getElementById("compute-page");
  let afterId = root.dataset.afterId || "0";
  let live = root.dataset.live === "true";
  let outputId = output ? (output.dataset.lastId || "0") : "0";
  // a newer filter wins: answers to the requests of an older one are dropped
  let generation = 0;

  async function getJson(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok || response.redirected) { throw new Error("HTTP " + response.status); }
    return response.json();
  }

  function filterQuery() {
    const data = new FormData(form);
    const params = new URLSearchParams();
    data.getAll("level").forEach((level) => params.append("level", level));
    if (data.get("step")) { params.append("step", data.get("step")); }
    const text = (data.get("q") || "").trim();
    if (text) { params.append("q", text); }
    return params.toString();
  }

  function stream() {
    const chosen = document.querySelector("input[name='stream']:checked");
    return chosen ? chosen.value : "stdout";
  }

  function outputUrl() {
    const params = new URLSearchParams(root.dataset.filter);
    const query = new URLSearchParams({stream: stream(), after_id: outputId});
    ["step", "q"].forEach((name) => { if (params.get(name)) { query.set(name, params.get(name)); } });
    return output.dataset.src + "&" + query.toString();
  }

  async function tailOutput() {
    if (!output) { return; }
    const mine = generation;
    const update = await getJson(outputUrl());
    if (mine !== generation) { return; }
    if (update.text) { output.append(update.text); }
    outputId = String(update.last_id);
  }

  function resetOutput() {
    if (!output) { return; }
    output.textContent = "";
    outputId = "0";
    const params = new URLSearchParams(root.dataset.filter);
    const page = new URLSearchParams({stream: stream()});
    if (params.get("step")) { page.set("step", params.get("step")); }
    outputPage.href = output.dataset.src.split("?")[0] + "?" + page.toString();
    tailOutput().catch(() => {});
  }

  function showPage(page, query) {
    more.hidden = !page.more;
    more.dataset.cursor = page.cursor;
    more.href = root.dataset.events.replace(/\/events$/, "") + "?" + query + (query ? "&" : "") + "after=" + encodeURIComponent(page.cursor);
    const empty = document.getElementById("no-events");
    if (empty) { empty.hidden = rows.children.length > 0; }
  }

  async function applyFilter() {
    const query = filterQuery();
    const mine = ++generation;
    root.dataset.filter = query;
    clear.hidden = !query;
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + "#events-h");
    state.textContent = "Searching…";
    const page = await getJson(root.dataset.events + "?" + query);
    if (mine !== generation) { return; }
    rows.innerHTML = page.rows;
    showPage(page, query);
    live = !page.more;
    afterId = String(page.after_id);
    const noun = page.count === 1 && !page.more ? " matching event" : " matching events";
    state.textContent = query ? page.count + (page.more ? "+" : "") + noun : "";
    resetOutput();
  }

  function filterToStep(step) {
    const select = form.elements.step;
    if (![...select.options].some((option) => option.value === step)) {
      select.add(new Option(step, step));
    }
    select.value = step;
    applyFilter().catch(() => { state.textContent = "The log could not be filtered; try again."; });
    document.getElementById("events-h").scrollIntoView({block: "start"});
  }

  let typing = null;
  form.addEventListener("input", (event) => {
    if (event.target.name !== "q") { return; }
    clearTimeout(typing);
    typing = setTimeout(() => applyFilter().catch(() => {}), 300);
  });
  form.addEventListener("change", (event) => {
    if (event.target.name !== "q") { applyFilter().catch(() => {}); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    applyFilter().catch(() => {});
  });
  clear.addEventListener("click", (event) => {
    event.preventDefault();
    form.reset();
    form.elements.q.value = "";
    form.elements.step.value = "";
    form.querySelectorAll("input[name='level']").forEach((box) => { box.checked = false; });
    applyFilter().catch(() => {});
  });
  document.querySelectorAll("input[name='stream']").forEach((radio) => radio.addEventListener("change", resetOutput));
  more.addEventListener("click", async (event) => {
    event.preventDefault();
    const query = root.dataset.filter;
    const mine = generation;
    const page = await getJson(root.dataset.events + "?" + query + (query ? "&" : "") + "after=" + encodeURIComponent(more.dataset.cursor));
    if (mine !== generation) { return; }
    rows.insertAdjacentHTML("beforeend", page.rows);
    showPage(page, query);
    live = !page.more;
  });
  // bars of the timeline, the steps table's and the failure's step links: filter in place
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.step-link, a.step-filter");
    if (!link) { return; }
    const step = link.dataset.step || link.querySelector("[data-step]").dataset.step;
    event.preventDefault();
    filterToStep(step);
  });
  hoverCard(document.getElementById("timeline-tip"));

  async function tick() {
    let done = false;
    try {
      const mine = generation;
      const url = root.dataset.updates + "?after_id=" + afterId + (root.dataset.filter ? "&" + root.dataset.filter : "");
      const update = await getJson(url);
      ["summary", "failure", "steps", "actions"].forEach((part) => {
        document.getElementById("run-" + part).innerHTML = update[part];
      });
      document.getElementById("event-total").textContent = update.total;
      root.dataset.status = update.status;
      if (mine === generation) {
        if (live && update.events.trim()) {
          // follow the tail if the reader is at it; leave them where they are otherwise
          const scroller = document.getElementById("log-scroll");
          const following = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
          rows.insertAdjacentHTML("beforeend", update.events);
          if (following) { scroller.scrollTop = scroller.scrollHeight; }
          const empty = document.getElementById("no-events");
          if (empty) { empty.hidden = true; }
        }
        afterId = String(update.after_id);
      }
      await tailOutput();
      done = update.done;
    } catch (error) {
      // the control plane may be restarting: try again on the next tick
    }
    if (done) { root.dataset.done = "true"; } else { setTimeout(tick, 1000); }
  }
  if (root.dataset.done !== "true") { setTimeout(tick, 1000); }
}

// the details of the step under the pointer (or focused), next to it
function hoverCard(tip) {
  function show(step, x, y) {
    const lines = [
      ["Step", step.dataset.step], ["Status", step.dataset.status],
      ["Started", step.dataset.clock + " UTC"], ["Duration", step.dataset.took],
      ["Attempt", step.dataset.attempt], ["Retries before", step.dataset.retries],
    ];
    tip.replaceChildren(...lines.map(([name, value]) => {
      const row = document.createElement("div");
      const label = document.createElement("span");
      label.textContent = name + ": ";
      row.append(label, value);
      return row;
    }));
    tip.style.left = (x + 12) + "px";
    tip.style.top = (y + 12) + "px";
    tip.hidden = false;
  }
  document.addEventListener("mouseover", (event) => {
    const step = event.target.closest && event.target.closest("svg.timeline g.step");
    if (step) { show(step, event.pageX, event.pageY); } else { tip.hidden = true; }
  });
  document.addEventListener("focusin", (event) => {
    const step = event.target.querySelector && event.target.querySelector("g.step");
    if (!step) { tip.hidden = true; return; }
    const box = step.querySelector("rect").getBoundingClientRect();
    show(step, box.right + window.scrollX, box.top + window.scrollY);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (run) { runPage(run); }
});
