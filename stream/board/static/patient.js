// One patient of the ward board: listens to /board/patient/events?id=... and draws the strip
// (uPlot) and the patient's recent anomalies, alarms and events. State: window.ecgPatient.
"use strict";

const patientId = new URLSearchParams(location.search).get("id") || "";
const state = { snapshots: 0, last: null, chart: null, kind: null, source: null };
window.ecgPatient = state;

const fmt = (x, digits = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const width = () => Math.max(360, Math.min(1400, document.body.clientWidth - 20));

function makeChart(kind, yLabel) {
  if (state.chart && state.kind === kind + yLabel) return state.chart;
  if (state.chart) state.chart.destroy();
  const x = kind === "strip" ? "signal time (s)" : "sample (beats one after another)";
  const series = kind === "strip" ? [
    { label: "time (s)", value: (u, v) => fmt(v, 3) },
    { label: "signal (" + yLabel + ")", stroke: "#1f3b73", width: 1.2,
      value: (u, v) => fmt(v, 3) },
    { label: "beat", stroke: "#2a7", width: 0, points: { show: true, size: 7, fill: "#2a7" } },
    { label: "anomalous beat", stroke: "#d62728", width: 0,
      points: { show: true, size: 9, fill: "#d62728" } },
  ] : [
    { label: "sample" },
    { label: "beat (as sent)", stroke: "#1f3b73", width: 1.2 },
    { label: "anomalous beat", stroke: "#d62728", width: 1.6 },
  ];
  state.chart = new uPlot({
    width: width(), height: 300, series, legend: { live: false },
    scales: { x: { time: false } },
    axes: [{ label: x }, { label: yLabel, size: 60 }],
  }, series.map(() => []), $("strip"));
  state.kind = kind + yLabel;
  return state.chart;
}

function drawStrip(strip) {
  const chart = makeChart("strip", strip.axis);
  const n = strip.values.length;
  const xs = new Array(n), beat = new Array(n).fill(null), bad = new Array(n).fill(null);
  for (let i = 0; i < n; i++) xs[i] = (strip.first_sample + i) / strip.fs;
  for (const m of strip.marks) {
    const i = m.sample - strip.first_sample;
    if (i >= 0 && i < n) (m.anomalous ? bad : beat)[i] = m.value;
  }
  chart.setData([xs, strip.values, beat, bad]);
  $("strip-note").textContent = `${(n / strip.fs).toFixed(1)} s at ${strip.fs} Hz, ` +
    `samples ${strip.first_sample}–${strip.end_sample - 1}; ${strip.marks.length} beats marked` +
    (strip.units ? ` (source units: ${strip.units})` : "");
}

function drawBeats(beats) {
  const chart = makeChart("beats", "input value");
  const xs = [], normal = [], bad = [];
  let x = 0;
  for (const b of beats) {
    for (const v of b.samples) {
      xs.push(x++);
      normal.push(b.anomalous ? null : v);
      bad.push(b.anomalous ? v : null);
    }
    xs.push(x++); normal.push(null); bad.push(null);  // a gap between beats
  }
  chart.setData([xs, normal, bad]);
  $("strip-note").textContent = `beat mode: the last ${beats.length} beats ` +
    `(${beats.map((b) => b.seq).join(", ")}) as sent; no signal to draw in mV`;
}

function rows(id, items) {
  $(id).tBodies[0].replaceChildren(...items.map((cells) => {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i > 0 && typeof c === "string" && isNaN(Number(c))) td.className = "left";
      tr.append(td);
    });
    return tr;
  }));
}

function draw(snap) {
  state.snapshots += 1;
  state.last = snap;
  $("updated").textContent = clock(snap.time_ms);
  if (!snap.found) {
    $("state").textContent = "not on the board (yet)";
    return null;
  }
  const row = snap.row;
  const badge = $("state");
  badge.textContent = row.state_text;
  badge.className = "badge state-" + row.state;
  $("heart-rate").textContent = row.heart_rate_bpm === null ? "–" : row.heart_rate_bpm.toFixed(0);
  $("beats").textContent = row.beats;
  $("anomalies").textContent = row.anomalies;
  $("alarms").textContent = row.alarms;
  $("about").textContent = [row.mode, row.worker && "worker " + row.worker,
    row.learning ? "learning its normal" : row.judged_by && "judged by " + row.judged_by,
    row.degraded ? "degraded (static threshold)" : ""].filter(Boolean).join(" · ");
  if (snap.strip) drawStrip(snap.strip);
  else if (snap.beats.length) drawBeats(snap.beats);
  rows("anomaly-table", snap.anomalies.map((a) => [clock(a.published_ms), String(a.seq),
    a.reason || "model", fmt(a.score, 2), fmt(a.heart_rate_bpm, 0)]));
  rows("alarm-table", snap.alarms.map((a) => [clock(a.raised_ms), a.kind.replace(/_/g, " "),
    a.category, a.detail || "–"]));
  rows("event-table", snap.events.map((e) => [clock(e.published_ms), e.kind.replace(/_/g, " "),
    e.phase, fmt(e.duration_ms === null ? null : e.duration_ms / 1000, 1)]));
  return row.last_beat_age_s > 10 ? `no beat for ${Math.round(row.last_beat_age_s)} s` : null;
}

function connect() {
  state.source = listen("patient/events?id=" + encodeURIComponent(patientId), draw);
}

$("patient").textContent = patientId;
document.title = "ecg-stream: " + patientId;
window.addEventListener("resize", () => state.chart && state.chart.setSize({ width: width(), height: 300 }));
connect();
