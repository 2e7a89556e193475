// The launch form: the run config checked against the job's schema as it is typed (by the
// control plane, so the messages are the ones a launch would be refused with), and a button
// that adds what the config lacks from the job's scaffold (defaults, null where required).
"use strict";

// ``value`` with every key of ``scaffold`` it lacks added, objects merged all the way down
function fillMissing(value, scaffold) {
  const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (!isObject(value) || !isObject(scaffold)) { return value; }
  const filled = {...value};
  for (const [key, part] of Object.entries(scaffold)) {
    filled[key] = key in value ? fillMissing(value[key], part) : part;
  }
  return filled;
}

function launchpad(form) {
  const field = form.elements.config;
  const list = document.getElementById("config-problems");
  const status = document.getElementById("config-status");
  document.getElementById("config-tools").hidden = false;
  let timer = null;
  let asked = 0;
  let problems = [];

  function show(found) {
    problems = found;
    list.replaceChildren(...found.map((problem) => {
      const item = document.createElement("li");
      item.textContent = problem;
      return item;
    }));
    list.hidden = found.length === 0;
    if (found.length) {
      field.setAttribute("aria-invalid", "true");
      status.className = "bad";
      status.textContent = found.length === 1 ? "1 problem:" : found.length + " problems:";
    } else {
      field.removeAttribute("aria-invalid");
      status.className = "ok";
      status.textContent = "✓ The config fits the job's schema.";
    }
  }

  async function check() {
    const mine = ++asked;
    const body = new URLSearchParams({config: field.value, csrf: form.elements.csrf.value});
    try {
      const response = await fetch(field.dataset.check, {
        method: "POST", body, credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!response.ok || response.redirected) { return; }
      const result = await response.json();
      if (mine === asked) { show(result.problems); }
    } catch (error) {
      // the launch checks it anyway
    }
  }

  field.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  document.getElementById("scaffold-missing").addEventListener("click", () => {
    let current = {};
    if (field.value.trim()) {
      try {
        current = JSON.parse(field.value);
      } catch (error) {
        status.className = "bad";
        status.textContent = "Fix the JSON first: " + error.message;
        return;
      }
    }
    const filled = fillMissing(current, JSON.parse(field.dataset.scaffold || "{}"));
    field.value = JSON.stringify(filled, null, 2);
    check();
  });
  form.addEventListener("submit", (event) => {
    if (problems.length) {
      event.preventDefault();
      status.className = "bad";
      status.textContent = "Not launched: the control plane would refuse this config. Fix the problems below first.";
      field.focus();
    }
  });
  check();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("launchpad");
  if (form) { launchpad(form); }
});
