// What the board's two pages share: element lookup, UTC clock, and the event-stream listener
// that keeps the status badge (live / reconnecting) true.
"use strict";

const $ = (id) => document.getElementById(id);
const clock = (ms) => (ms ? new Date(ms).toISOString().slice(11, 19) : "–");

function listen(url, onSnapshot) {
  const source = new EventSource(url);
  const status = $("status");
  source.onmessage = (event) => {
    status.textContent = "live";
    status.className = "status ok";
    onSnapshot(JSON.parse(event.data));
  };
  source.onerror = () => {
    status.textContent = "reconnecting…";
    status.className = "status offline";
  };
  return source;
}
