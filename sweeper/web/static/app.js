// The live page of `sweep serve`: polls the server's JSON every second and redraws what changed.
// Reads only; every request is a GET.
"use strict";

const POLL_MS = 1000;
const state = { study: null, metric: null, pinned: [], tags: {}, charts: {}, studies: [] };

async function getJSON(url) {
  // The browser revalidates its copy (a 304 from the server when nothing changed); an answer
  // with the ETag seen last time is null here, and nothing is redrawn.
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(url + ": " + response.status);
  const tag = response.headers.get("ETag");
  if (tag && state.tags[url] === tag) return null;
  state.tags[url] = tag;
  return response.json();
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "?";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s % 60).padStart(2, "0");
}

function stateWords(s) {
  if (s.state === "stopped") return "stopped: the sweep's driver is gone (no word for " + Math.round(s.age_s) + " s, lock free)";
  if (s.state === "unknown") return s.done >= (s.planned || Infinity) ? "finished" : "no word from a running sweep (no progress.json)";
  return s.state;
}

function drawStudies(data) {
  state.studies = data.studies;
  document.getElementById("root").textContent = "results folder: " + data.root;
  const list = document.getElementById("study-list");
  list.replaceChildren();
  for (const s of data.studies) {
    const item = el("li", s.name);
    item.dataset.study = s.name;
    const line = s.done + "/" + (s.planned ?? "?") + " trials, " + stateWords(s);
    item.appendChild(el("small", line, "state-" + s.state));
    if (s.name === state.study) item.classList.add("selected");
    item.addEventListener("click", () => select(s.name));
    list.appendChild(item);
  }
  if (!state.study && data.studies.length) {
    const wanted = decodeURIComponent(location.hash.replace(/^#study=/, ""));
    const running = data.studies.find((s) => s.state === "running");
    select((data.studies.find((s) => s.name === wanted) || running || data.studies[0]).name);
  }
}

function select(name) {
  state.study = name;
  state.metric = null;
  state.pinned = [];
  for (const key of Object.keys(state.charts)) { state.charts[key].destroy(); delete state.charts[key]; }
  document.getElementById("panels").replaceChildren();
  state.tags = {};
  location.hash = "study=" + encodeURIComponent(name);
  for (const item of document.querySelectorAll("#study-list li")) item.classList.toggle("selected", item.dataset.study === name);
  const base = "files/" + encodeURIComponent(name) + "/";
  document.getElementById("trials-link").href = base + "trials.csv";
  document.getElementById("curves-link").href = base + "curves.csv";
  refresh();
}

function drawStudy(s) {
  document.getElementById("title").textContent = s.name;
  document.title = s.name + ": sweep serve";
  document.getElementById("description").textContent = s.description || "";
  const planned = s.planned || 0;
  document.getElementById("bar-done").style.width = planned ? Math.min(100, 100 * s.done / planned) + "%" : "0";
  const parts = [s.done + "/" + (s.planned ?? "?") + " trials", s.failed + " failed"];
  if (s.diverged) parts.push(s.diverged + " diverged");
  parts.push(stateWords(s));
  if (s.state === "running") parts.push(s.eta_seconds === null || s.eta_seconds === undefined ? "ETA after the first round" : "ETA " + clock(s.eta_seconds));
  if (s.best) parts.push("best " + s.best);
  const line = document.getElementById("progress-line");
  line.textContent = parts.join(" | ");
  line.className = "state-" + s.state;
  drawTable(s.table);
  drawRunning(s.running);
  drawMetrics(s.curve_metrics);
}

function drawTable(table) {
  const answer = document.getElementById("answer");
  if (table.answer) state.answer = table.answer;  // while new rows are digested the last answer stays, marked
  answer.hidden = !state.answer;
  answer.textContent = (state.answer || "") + (table.answer || !state.answer ? "" : " (updating)");
  answer.classList.toggle("updating", !table.answer);
  state.labels = Object.fromEntries(table.rows.map((r) => [r.trial, r.label]));
  const counts = table.columns.indexOf("seeds ok/failed/diverged");  // "3/0/1": marked on the curves' panels
  state.lost = Object.fromEntries(table.rows.map((r) => [r.trial, counts < 0 ? [0, 0] : r.cells[counts].split("/").slice(1).map(Number)]));
  if (table.importance) drawImportance(table.importance);
  if (table.parallel) drawParallel(table.parallel);
  const note = [];
  if (table.error) note.push("could not read the table: " + table.error);
  if (table.pending) note.push(table.rows.length ? "updating (new rows arrived)" : "computing the table");
  if (table.configurations > table.rows.length) note.push("the best " + table.rows.length + " of " + table.configurations + " configurations");
  document.getElementById("table-note").textContent = note.join("; ");
  document.getElementById("budget").textContent = [table.budget || "", ...(table.decisions || [])].filter(Boolean).join("; ");
  const head = document.querySelector("#ranked thead");
  const row = el("tr");
  for (const c of table.columns) row.appendChild(el("th", c));
  head.replaceChildren(row);
  const body = document.querySelector("#ranked tbody");
  body.replaceChildren();
  const verdict = table.columns.indexOf("verdict");
  for (const r of table.rows) {
    const tr = el("tr");
    tr.dataset.trial = r.trial;
    const v = r.cells[verdict];
    if (v === "best") tr.classList.add("best");
    if (v === "worse") tr.classList.add("worse");
    if (state.pinned.includes(r.trial)) tr.classList.add("pinned");
    for (const cell of r.cells) tr.appendChild(el("td", cell));
    tr.addEventListener("click", () => pin(r.trial));
    body.appendChild(tr);
  }
}

function pin(trial) {
  if (!state.pinned.includes(trial)) state.pinned.push(trial);
  refreshCurves();
}

function drawRunning(rows) {
  const list = document.getElementById("running");
  list.replaceChildren();
  if (!rows.length) list.appendChild(el("li", "nothing is running"));
  for (const r of rows) {
    const name = (state.labels && state.labels[r.trial]) || "configuration " + r.trial;
    list.appendChild(el("li", name + ", seed " + r.seed + ": epoch " + r.epoch + ", iteration " + r.iteration));
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const KIND_COLOURS = { hyperparameter: "#1f77b4", interaction: "#17becf", rest: "#999", seeds: "#d62728" };
function drawImportance(data) {
  // one bar per source with its 95 % interval; the seeds' bar (red) beside the hyperparameters'
  document.getElementById("importance-line").textContent = data.line ? data.line + " (" + data.note + ")" : data.note;
  const chart = document.getElementById("importance");
  const row = 22, left = 190, width = 420;
  chart.setAttribute("width", left + width + 60);
  chart.setAttribute("height", data.bars.length * row + 24);
  chart.replaceChildren();
  data.bars.forEach((b, i) => {
    const y = i * row + 4, x = (v) => left + width * Math.max(0, Math.min(1, v ?? 0));
    chart.appendChild(svg("text", { x: left - 6, y: y + 14, "text-anchor": "end", "font-size": 12 }, b.source));
    chart.appendChild(svg("rect", { x: left, y: y + 3, width: x(b.share) - left, height: row - 8, fill: KIND_COLOURS[b.kind] || "#1f77b4" }));
    if (b.low !== null && b.high !== null) chart.appendChild(svg("line", { x1: x(b.low), x2: x(b.high), y1: y + 11, y2: y + 11, stroke: "#222", "stroke-width": 1.5 }));
    chart.appendChild(svg("text", { x: x(Math.max(b.share ?? 0, b.high ?? 0)) + 5, y: y + 14, "font-size": 11 }, Math.round(100 * (b.share ?? 0)) + " %"));
  });
  chart.appendChild(svg("text", { x: left, y: data.bars.length * row + 20, "font-size": 11, fill: "#555" }, "share of the variance over configurations and seeds, with 95 % interval"));
}

function colour(t) {  // viridis-like, from dark blue (0) to yellow (1)
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const f = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(f)), w = f - i;
  return "rgb(" + stops[i].map((c, k) => Math.round(c + w * (stops[i + 1][k] - c))).join(",") + ")";
}

function drawParallel(data) {
  const chart = document.getElementById("parallel");
  chart.replaceChildren();
  if (data.axes.length < 2) return;
  const width = Math.min(900, 130 * data.axes.length + 60), height = 300, top = 20, bottom = 260;
  chart.setAttribute("width", width);
  chart.setAttribute("height", height);
  const ax = (j) => 40 + j * (width - 100) / (data.axes.length - 1);
  const ay = (p) => bottom - (bottom - top) * p;
  const last = data.axes.length - 1;
  const lines = data.lines.slice().sort((a, b) => (data.maximize ? 1 : -1) * ((a.y[last] ?? 0) - (b.y[last] ?? 0)));
  for (const l of lines) {  // the best drawn last, on top
    const points = l.y.map((p, j) => ax(j) + "," + ay(p ?? -0.08)).join(" ");
    const shade = data.maximize ? l.y[last] : 1 - l.y[last];
    chart.appendChild(svg("polyline", { points, fill: "none", stroke: l.lost ? "#d62728" : colour(shade ?? 0),
      "stroke-width": 1, "stroke-opacity": 0.55, "stroke-dasharray": l.lost ? "4 3" : "none" }));
    if (l.low !== null && l.high !== null) chart.appendChild(svg("line", { x1: ax(last) + 3, x2: ax(last) + 3, y1: ay(l.low), y2: ay(l.high), stroke: "#555", "stroke-opacity": 0.2, "stroke-width": 3 }));
  }
  data.axes.forEach((name, j) => {
    chart.appendChild(svg("line", { x1: ax(j), x2: ax(j), y1: top - 5, y2: bottom + 5, stroke: "#777" }));
    chart.appendChild(svg("text", { x: ax(j), y: height - 22, "text-anchor": "middle", "font-size": 11 }, j === last ? "mean " + name : name));
    const ends = data.lines.map((l) => [l.y[j], l.text[j]]).filter((e) => e[0] !== null && e[0] >= 0).sort((a, b) => a[0] - b[0]);
    if (ends.length) {
      chart.appendChild(svg("text", { x: ax(j) + 4, y: ay(ends[0][0]) + 12, "font-size": 10, fill: "#333" }, ends[0][1]));
      chart.appendChild(svg("text", { x: ax(j) + 4, y: ay(ends[ends.length - 1][0]) - 4, "font-size": 10, fill: "#333" }, ends[ends.length - 1][1]));
    }
  });
}

function drawMetrics(metrics) {
  const select = document.getElementById("metric");
  const known = Array.from(select.options).map((o) => o.value).join(",");
  if (known !== metrics.join(",")) {
    select.replaceChildren(...metrics.map((m) => el("option", m)));
    if (state.metric && metrics.includes(state.metric)) select.value = state.metric;
  }
  if (!state.metric && metrics.length) state.metric = metrics[0];
}

function lostWords(trial) {
  const [failed, diverged] = (state.lost && state.lost[trial]) || [0, 0];
  return [failed ? failed + " failed" : "", diverged ? diverged + " diverged" : ""].filter(Boolean).join(", ");
}

function drawCurves(data) {
  const seen = new Set();
  const container = document.getElementById("panels");
  // one y-axis for the metric across panels, so levels compare, not shapes (the box: one per panel)
  const values = data.panels.flatMap((p) => [...p.low, ...p.high, ...p.mean]).filter((v) => v !== null);
  state.yRange = values.length ? [Math.min(...values), Math.max(...values)] : null;
  for (const p of data.panels) {
    const key = data.metric + "/" + p.trial;
    seen.add(key);
    const low = p.low.map((v, i) => (v === null ? p.mean[i] : v));
    const high = p.high.map((v, i) => (v === null ? p.mean[i] : v));
    const series = [p.x, p.mean, low, high];
    const seeds = p.n.length ? Math.max(...p.n) : 0;
    const lost = lostWords(p.trial);
    const title = (p.rank ? "#" + p.rank + " " : "") + p.label + " (" + seeds + " seeds" +
      (p.running_seeds.length ? ", " + p.running_seeds.length + " running" : "") + ")";
    if (state.charts[key]) {
      state.charts[key].setData(series);
      state.charts[key].root.parentNode.querySelector("h3").textContent = title;
      state.charts[key].root.parentNode.querySelector(".lost").textContent = lost ? "lost: " + lost : "";
      continue;
    }
    const panel = el("div", null, "panel");
    panel.dataset.trial = p.trial;
    panel.appendChild(el("h3", title));
    panel.appendChild(el("p", lost ? "lost: " + lost : "", "lost"));
    container.appendChild(panel);
    const range = data.range;
    const opts = {
      width: 330, height: 200,
      scales: { x: { time: false }, y: { range: (u, min, max) => {
        if (!state.ownAxis && state.yRange) [min, max] = state.yRange;
        return [range[0] !== null ? Math.max(range[0], min) : min, range[1] !== null ? Math.min(range[1], max) : max];
      } } },
      axes: [{ label: data.axis_label }, { label: data.label, size: 55 }],
      legend: { show: false },
      series: [{}, { stroke: "#1f5fa8", width: 2, label: "mean" },
        { stroke: "transparent", label: "low" }, { stroke: "transparent", label: "high" }],
      bands: [{ series: [3, 2], fill: "rgba(31, 95, 168, 0.2)" }],
    };
    state.charts[key] = new uPlot(opts, series, panel);
  }
  for (const p of data.panels) {  // in the server's order: best first, then the running ones
    const chart = state.charts[data.metric + "/" + p.trial];
    if (chart) container.appendChild(chart.root.parentNode);
  }
  for (const key of Object.keys(state.charts)) {
    if (!seen.has(key)) {
      state.charts[key].root.parentNode.remove();
      state.charts[key].destroy();
      delete state.charts[key];
    }
  }
}

async function refreshCurves() {
  if (!state.study || !state.metric) return;
  const base = "api/studies/" + encodeURIComponent(state.study);
  const trials = state.pinned.length ? "&trials=" + state.pinned.map(encodeURIComponent).join(",") : "";
  const data = await getJSON(base + "/curves?metric=" + encodeURIComponent(state.metric) + trials);
  if (data) drawCurves(data);
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const studies = await getJSON("api/studies");
    if (studies) drawStudies(studies);
    if (state.study) {
      const s = await getJSON("api/studies/" + encodeURIComponent(state.study));
      if (s) drawStudy(s);
      await refreshCurves();
    }
  } catch (e) {
    document.getElementById("table-note").textContent = "the server did not answer (" + e.message + "); retrying";
  } finally {
    busy = false;
  }
}

document.getElementById("own-axis").addEventListener("change", (event) => {
  state.ownAxis = event.target.checked;
  for (const chart of Object.values(state.charts)) chart.setData(chart.data);  // the y range again
});
document.getElementById("metric").addEventListener("change", (event) => {
  state.metric = event.target.value;
  refreshCurves();
});
refresh();
setInterval(refresh, POLL_MS);
