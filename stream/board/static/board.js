// The ward board: listens to /board/events (server-sent JSON snapshots) and draws the table.
// State for scripts and tests: window.ecgBoard.
"use strict";

const params = new URLSearchParams(location.search);
const state = { snapshots: 0, last: null, source: null, filter: params.get("q") || "",
  limit: params.get("limit") };
window.ecgBoard = state;

const ago = (s) => (s === null || s === undefined ? "–" : s < 60 ? `${Math.round(s)} s ago`
  : s < 3600 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`);
const text = (x) => (x === null || x === undefined ? "–" : String(x));

function cell(tr, value, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (value instanceof Node) td.append(value); else td.textContent = value;
  tr.append(td);
  return td;
}

function row(p) {
  const tr = document.createElement("tr");
  tr.dataset.patient = p.patient;
  tr.dataset.state = p.state;
  tr.dataset.lastBeatMs = p.last_beat_ms || "";
  const link = document.createElement("a");
  link.href = "patient?id=" + encodeURIComponent(p.patient);
  link.textContent = p.patient;
  cell(tr, link, "left");
  const badge = document.createElement("span");
  badge.className = "badge state-" + p.state;
  badge.textContent = p.state_text;
  cell(tr, badge, "left");
  cell(tr, p.heart_rate_bpm === null ? "–" : p.heart_rate_bpm.toFixed(0));
  const last = p.last_anomaly;
  cell(tr, last ? `${ago(last.age_s)} (${last.reason || "model"}, beat ${last.seq})` : "–", "left");
  const alarm = p.alarm || p.last_alarm;
  cell(tr, alarm ? `${alarm.kind.replace(/_/g, " ")} at ${clock(alarm.raised_ms)}` : "–", "left");
  cell(tr, p.beats);
  cell(tr, p.anomalies);
  cell(tr, p.alarms);
  cell(tr, ago(p.last_beat_age_s));
  cell(tr, text(p.mode) + (p.learning ? ` · learning (${p.learning_beats} beats)` : ""), "left");
  cell(tr, p.worker || "–", "left");
  return tr;
}

function draw(snap) {
  state.snapshots += 1;
  state.last = snap;
  $("total").textContent = snap.total;
  for (const [name, n] of Object.entries(snap.by_state)) {
    const el = $("n-" + name);
    if (el) el.textContent = n;
  }
  $("updated").textContent = clock(snap.time_ms);
  $("shown").textContent = snap.matching > snap.shown
    ? `showing the ${snap.shown} most urgent of ${snap.matching}` : `${snap.shown} shown`;
  $("board").tBodies[0].replaceChildren(...snap.patients.map(row));
  state.rendered_ms = Date.now();
  const age = snap.feed.newest_record_age_s;
  if (snap.total && (age === null || age > 10)) {
    return `no record read for ${age === null ? "a while" : Math.round(age) + " s"}: ` +
      "is the pipeline running?";
  }
  return null;
}

function connect() {
  if (state.source) state.source.close();
  const query = new URLSearchParams();
  if (state.filter) query.set("q", state.filter);
  if (state.limit) query.set("limit", state.limit);
  state.source = listen("events?" + query, draw);
}

$("filter").value = state.filter;
let typing = null;
$("filter").addEventListener("input", (event) => {
  clearTimeout(typing);
  typing = setTimeout(() => { state.filter = event.target.value.trim(); connect(); }, 250);
});
connect();
