/* The main window: job-type browser and parameter panel (upper half), job lists, the selected
   job's nodes, live stdout/stderr and job actions (lower half). */
"use strict";

const state = { spec: null, tab: null, values: {}, job: null, jobs: [], logs: { out: 0, err: 0 } };
const $ = (id) => document.getElementById(id);

async function start() {
  const project = await attempt(() => api("project"));
  if (!project) return;
  $("project-name").textContent = project.root;
  const shown = new URLSearchParams(location.hash.slice(1)).get("display");
  if (shown) Display.open(shown);  // `vitreo display FILE`
  if (!project.exists) {
    $("create-where").textContent = project.root;
    $("create-project").hidden = false;
    return;
  }
  $("create-project").hidden = true;
  $("main").hidden = false;
  await loadTypes();
  await refreshJobs();
  setInterval(refreshJobs, 3000);
  setInterval(pollLogs, 2000);
}

$("create-confirm").addEventListener("click", async () => {
  if (await attempt(() => api("project", { method: "POST", body: {} }))) { say("project created"); start(); }
});

/* ---------------------------------------------------------------- job types and panel */
async function loadTypes() {
  const types = await attempt(() => api("types"));
  const box = $("job-types");
  box.replaceChildren(...(types || []).map((t) =>
    el("button", { type: "button", title: t.summary, "data-type": t.type_label, onclick: () => chooseType(t.type_label) },
       t.title)));
}

async function chooseType(label, values = null, job = null) {
  const spec = await attempt(() => api("types/" + encodeURIComponent(label)));
  if (!spec) return;
  state.spec = spec;
  state.values = {};
  for (const tab of spec.tabs) for (const o of tab.options) state.values[o.name] = o.default;
  if (values) for (const [k, v] of Object.entries(values)) if (k in state.values) state.values[k] = v;
  state.tab = spec.tabs.length ? spec.tabs[0].name : null;
  state.panelJob = job;
  $("continue-now").disabled = !job || !["Succeeded", "Failed", "Aborted"].includes(job.status);
  for (const b of $("job-types").children) b.classList.toggle("active", b.dataset.type === spec.type_label);
  $("panel-title").textContent = job ? `${spec.title}: ${job.alias || job.name}` : spec.title;
  renderTabs();
}

function renderTabs() {
  const spec = state.spec;
  $("tabs").replaceChildren(...spec.tabs.map((tab) =>
    el("button", { type: "button", role: "tab", class: tab.name === state.tab ? "active" : "",
                   onclick: () => { state.tab = tab.name; renderTabs(); } }, tab.name)));
  const tab = spec.tabs.find((t) => t.name === state.tab);
  $("options").replaceChildren(...(tab ? tab.options.map(optionRow) : []));
}

function optionRow(o) {
  const set = (v) => { state.values[o.name] = v; };
  const value = state.values[o.name];
  let field;
  if (o.kind === "boolean" || o.kind === "radio") {
    const choices = o.kind === "boolean" ? ["Yes", "No"] : o.choices;
    field = el("select", { name: o.name, onchange: (e) => set(e.target.value) },
               choices.map((c) => el("option", { value: c, selected: c === value }, c)));
  } else {
    const input = el("input", { type: "text", name: o.name, value: value, oninput: (e) => set(e.target.value) });
    input.value = value;
    field = el("span", { class: "field" }, input);
    if (o.kind === "file") {
      field.append(el("button", { type: "button", title: "Browse the project's files",
                                  onclick: () => Display.browse(".", (path) => { input.value = path; set(path); }) }, "Browse…"));
    }
    if (o.kind === "input_node") {
      const browse = el("select", { class: "browse", title: "Browse: nodes of type " + o.node_type,
                                    onchange: (e) => { if (e.target.value) { input.value = e.target.value; set(e.target.value); } } },
                        el("option", { value: "" }, `Browse (${o.nodes.length})`),
                        o.nodes.map((n) => el("option", { value: n }, n)));
      field.append(browse);
    }
  }
  const help = o.help + (o.minimum !== null && o.maximum !== null ? ` [${o.minimum} … ${o.maximum}]` : "");
  return el("div", { class: "option" }, el("label", { title: help, for: o.name }, o.label), field);
}

async function submitJob(schedule) {
  if (!state.spec) return say("choose a job type first", true);
  const body = { type: state.spec.type_label, values: state.values, alias: $("alias").value || null, schedule };
  const result = await attempt(() => api("jobs", { body }));
  if (result) { say(`${result.job} ${result.status}`); $("alias").value = ""; await refreshJobs(); selectJob(result.job); }
}

$("run-now").addEventListener("click", () => submitJob(false));
$("schedule").addEventListener("click", () => submitJob(true));
$("continue-now").addEventListener("click", async () => {
  const job = state.panelJob;
  if (!job) return;
  const changed = {};
  for (const [k, v] of Object.entries(state.values)) if (job.values[k] !== undefined && job.values[k] !== v) changed[k] = v;
  const result = await attempt(() => api("job/continue", { body: { job: job.name, values: changed } }));
  if (result) { say(`${result.job} continues`); await refreshJobs(); selectJob(result.job); }
});

/* ---------------------------------------------------------------- job lists and the selected job */
async function refreshJobs() {
  const data = await attempt(() => api("jobs"));
  if (!data) return;
  state.jobs = data.jobs;
  const byName = Object.fromEntries(data.jobs.map((j) => [j.name, j]));
  for (const [list, names] of Object.entries(data.lists)) {
    $("list-" + list).replaceChildren(...names.map((name) => {
      const job = byName[name];
      return el("li", { class: state.job === name ? "active" : "", title: `${job.name} ${job.type_label} ${job.status}`,
                        "data-job": name, onclick: () => selectJob(name) }, job.alias || job.name);
    }));
  }
  $("autorun-stop").disabled = !data.autorun;
  if (state.job && byName[state.job]) showJob(byName[state.job]);
}

async function selectJob(name) {
  const job = await attempt(() => api("job", { params: { job: name } }));
  if (!job) return;
  if (state.job !== job.name) {
    state.job = job.name;
    state.logs = { out: -65536, err: -65536 };
    $("stdout").textContent = "";
    $("stderr").textContent = "";
  }
  for (const li of document.querySelectorAll(".jobs li")) li.classList.toggle("active", li.dataset.job === job.name);
  showJob(job);
  if (job.spec) chooseType(job.spec, job.values, job);
  pollLogs();
}

function nodeLink(node) {
  return el("li", {}, el("a", { title: node.type_label, onclick: () => Display.open(node.name) }, node.name));
}

function showJob(job) {
  $("job-title").textContent = `${job.alias || job.name}  (${job.name}, ${job.type_label}, ${job.status})`;
  const progress = $("job-progress");
  progress.hidden = !(job.progress && job.status === "Running");
  if (job.progress) { progress.value = job.progress.fraction; progress.title = `${job.progress.task}: ${job.progress.done}/${job.progress.total}`; }
  $("job-inputs").replaceChildren(...job.inputs.map(nodeLink));
  $("job-outputs").replaceChildren(...job.outputs.map(nodeLink));
}

async function pollLogs() {
  if (!state.job) return;
  for (const stream of ["out", "err"]) {
    const box = $(stream === "out" ? "stdout" : "stderr");
    const chunk = await attempt(() => api("job/log", { params: { job: state.job, stream, offset: state.logs[stream] } }));
    if (!chunk) continue;
    if (chunk.reset || state.logs[stream] < 0) box.textContent = "";
    if (chunk.text) {
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      box.textContent += chunk.text;
      if (atEnd) box.scrollTop = box.scrollHeight;
    }
    state.logs[stream] = chunk.offset;
  }
}

for (const stream of ["out", "err"]) {
  $(stream === "out" ? "stdout" : "stderr").addEventListener("dblclick", async () => {
    if (!state.job) return;
    let text = "", offset = 0, chunk;
    do {
      chunk = await attempt(() => api("job/log", { params: { job: state.job, stream, offset } }));
      if (!chunk) return;
      text += chunk.text; offset = chunk.offset;
    } while (chunk.more);
    Display.show(`${state.job} run.${stream}`, el("pre", { class: stream === "err" ? "full err" : "full" }, text));
  });
}

/* ---------------------------------------------------------------- job actions */
const actions = {
  note: (job) => api("job/note", { body: { job, text: $("note-text").value } }).then((r) => { $("note-text").value = ""; return "note added"; }),
  alias: (job) => api("job/alias", { body: { job, alias: $("alias-text").value } }).then((r) => `alias ${r.alias || "removed"}`),
  mark_finished: (job) => api("job/mark_finished", { body: { job } }).then((r) => `${r.job} Succeeded`),
  mark_failed: (job) => api("job/mark_finished", { body: { job, failed: true } }).then((r) => `${r.job} Failed`),
  abort: (job) => api("job/abort", { body: { job } }).then((r) => `asked ${r.job} to abort`),
  delete: (job) => confirm(`Move ${job} and every job that depends on it to Trash/?`) &&
    api("job/delete", { body: { job } }).then((r) => { state.job = null; return `moved to Trash/: ${r.deleted.join(" ")}`; }),
  gentle: (job) => api("job/clean", { body: { job, harsh: false } }).then((r) => `moved ${r.moved.length} file(s) to Trash/`),
  harsh: (job) => confirm(`Harsh clean ${job}?`) &&
    api("job/clean", { body: { job, harsh: true } }).then((r) => `moved ${r.moved.length} file(s) to Trash/`),
  pick: (job) => { Display.picking(job); return ""; },
  flowchart: (job) => { Display.show(`Flowchart of ${job}`, el("img", { src: apiUrl("job/flowchart", { job }), alt: "flowchart" })); return ""; },
  shownote: (job) => api("job", { params: { job } }).then((r) => { Display.show(`${job} note.txt`, el("pre", { class: "full" }, r.note)); return ""; }),
};

$("job-actions").addEventListener("click", async (event) => {
  const action = event.target.dataset && event.target.dataset.action;
  if (!action) return;
  if (!state.job) return say("select a job first", true);
  const message = await attempt(() => Promise.resolve(actions[action](state.job)));
  if (message) say(message);
  await refreshJobs();
});

/* ---------------------------------------------------------------- menus: display, trash, autorun */
$("menu-display").addEventListener("click", () => Display.browse("."));
$("menu-empty-trash").addEventListener("click", async () => {
  if (!confirm("Remove Trash/ for good? Deleted jobs can no longer be undeleted.")) return;
  const r = await attempt(() => api("trash/empty", { body: {} }));
  if (r) say(`removed ${r.removed} file(s) from Trash/`);
});
$("menu-trash").addEventListener("click", async () => {
  const r = await attempt(() => api("trash"));
  if (!r) return;
  const list = el("ul", { class: "browser" }, r.jobs.map((job) => el("li", {}, job, " ",
    el("button", { onclick: async () => {
      const done = await attempt(() => api("job/undelete", { body: { job } }));
      if (done) { say(`restored: ${done.restored.join(" ")}`); Display.close(); refreshJobs(); }
    } }, "Undelete"))));
  Display.show("Trash", r.jobs.length ? list : el("p", {}, "The trash holds no deleted jobs."));
});
$("autorun-start").addEventListener("click", async () => {
  const body = { jobs: [], repeat: Number($("autorun-repeat").value), wait: Number($("autorun-wait").value) };
  const r = await attempt(() => api("autorun", { body }));
  if (r) { say(`autorun started (pid ${r.pid})`); refreshJobs(); }
});
$("autorun-stop").addEventListener("click", async () => {
  const r = await attempt(() => api("autorun/stop", { body: {} }));
  if (r) say(r.stopped ? "autorun stops after its current job" : "no autorun was running");
});

start();
