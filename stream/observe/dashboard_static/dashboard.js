// The live dashboard: listens to /dashboard/events (server-sent JSON snapshots) and draws
// them with uPlot. State for scripts and tests: window.ecgDashboard.
"use strict";

const state = { snapshots: 0, last: null, patient: null, source: null, charts: {} };
window.ecgDashboard = state;

const $ = (id) => document.getElementById(id);
const fmt = (x, digits = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
const width = () => Math.max(360, Math.min(1100, document.body.clientWidth - 40));

// Times in UTC, 24-hour, as in the tables; legends name the series (no hover values).
const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

function makeChart(id, title, series, extra = {}) {
  const opts = Object.assign({ title, width: width(), height: 220, series, tzDate: utc,
    legend: { live: false } }, extra);
  const empty = series.map(() => []);
  state.charts[id] = new uPlot(opts, empty, $(id));
  return state.charts[id];
}

function setupCharts() {
  makeChart("trace", "Recent beats of the patient (model input) and the reconstruction", [
    { label: "sample" },
    { label: "beat", stroke: "#1f77b4", width: 1.5 },
    { label: "reconstruction", stroke: "#d62728", width: 1.5, dash: [6, 4] },
  ], { scales: { x: { time: false } } });
  makeChart("scores", "Scores (reconstruction error) against the threshold", [
    { label: "beat seq" },
    { label: "score", stroke: "#1f77b4", points: { show: true, size: 4 } },
    { label: "threshold", stroke: "#555", dash: [4, 4] },
    { label: "anomalous", stroke: "#d62728", width: 0, points: { show: true, size: 7,
      fill: "#d62728" } },
  ], { scales: { x: { time: false } } });
  makeChart("throughput", "This worker: beats scored per second and consumer lag", [
    { label: "time (UTC)" },
    { label: "beats/s", stroke: "#2ca02c", width: 1.5 },
    { label: "anomalous/s", stroke: "#d62728" },
    { label: "lag (records)", stroke: "#9467bd", scale: "lag" },
  ], { axes: [{ values: (u, splits) => splits.map((v) => clock(v * 1000)) }, {},
    { scale: "lag", side: 1, grid: { show: false } }] });
}

function drawPatient(view) {
  if (!view) return;
  $("patient-summary").textContent =
    `${view.beats_seen} beats, ${view.anomalies} anomalous, ${view.alerts} alerts`;
  const xs = [], beat = [], recon = [];
  view.samples.forEach((samples, i) => {
    samples.forEach((v, j) => {
      xs.push(i * samples.length + j);
      beat.push(v);
      recon.push(view.reconstructions[i] ? view.reconstructions[i][j] : null);
    });
  });
  state.charts.trace.setData([xs, beat, recon]);
  const seq = view.scores.map((s) => s[0]);
  state.charts.scores.setData([seq, view.scores.map((s) => s[1]), view.scores.map((s) => s[2]),
    view.scores.map((s) => (s[3] ? s[1] : null))]);
}

function drawRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.append(td); });
    return tr;
  }));
}

function drawPatients(patients) {
  const select = $("patient-select");
  const names = patients.slice(0, 200).map((p) => p.patient);
  if (state.patient && !names.includes(state.patient)) names.unshift(state.patient);
  const current = Array.from(select.options).map((o) => o.value).join("\n");
  if (current === names.join("\n")) return;
  select.replaceChildren(...names.map((name) => new Option(name, name, false, name === state.patient)));
}

function draw(snap) {
  state.snapshots += 1;
  state.last = snap;
  $("worker").textContent = snap.info.worker || "";
  $("model").textContent = snap.info.model_version || "–";
  $("beats-scored").textContent = snap.beats_scored;
  $("beats-per-s").textContent = fmt(snap.beats_per_s);
  $("anomalies").textContent = snap.anomalies;
  $("alerts").textContent = snap.alerts;
  $("lag").textContent = snap.lag === null ? "–" : snap.lag;
  const status = $("status");
  status.textContent = snap.degraded ? "degraded: Redis away, static threshold" : "live";
  status.className = "status " + (snap.degraded ? "degraded" : "ok");
  $("updated").textContent = clock(snap.time_ms);
  const lag = new Map(snap.lag_series.map(([s, v]) => [s, v]));
  const t = snap.throughput;
  state.charts.throughput.setData([t.map((r) => r[0]), t.map((r) => r[1]), t.map((r) => r[2]),
    t.map((r) => (lag.has(r[0]) ? lag.get(r[0]) : null))]);
  drawPatients(snap.patients);
  drawPatient(snap.patient);
  drawRows($("anomaly-table").tBodies[0], snap.recent_anomalies.map((a) =>
    [clock(a.published_ms), a.patient, a.seq, fmt(a.score, 2), fmt(a.threshold, 2)]));
  drawRows($("alert-table").tBodies[0], snap.recent_alerts.map((a) =>
    [clock(a.raised_ms), a.patient, a.anomalies + " of " + a.window,
      a.first_seq + "–" + a.last_seq, fmt(a.max_score, 2)]));
}

function connect() {
  if (state.source) state.source.close();
  const query = state.patient ? "?patient=" + encodeURIComponent(state.patient) : "";
  const source = new EventSource("events" + query);
  source.onmessage = (event) => {
    const snap = JSON.parse(event.data);
    if (!state.patient && snap.patient) {
      state.patient = snap.patient.patient;  // stay on this patient from now on
      draw(snap);
      connect();
      return;
    }
    draw(snap);
  };
  source.onerror = () => {
    const status = $("status");
    status.textContent = "reconnecting…";
    status.className = "status offline";
  };
  state.source = source;
}

setupCharts();
$("patient-select").addEventListener("change", (event) => {
  state.patient = event.target.value;
  connect();
});
window.addEventListener("resize", () => {
  Object.values(state.charts).forEach((chart) => chart.setSize({ width: width(), height: 220 }));
});
connect();
