// What the board's two pages share: element lookup, UTC clock, and the event-stream listener
// that keeps the status badge true: live, reconnecting, or what the snapshot's drawer says is
// wrong (it returns a text when the data are stale, nothing when all is well).
"use strict";

const $ = (id) => document.getElementById(id);
const clock = (ms) => {
  const date = new Date(ms);
  return ms && !isNaN(date) ? date.toISOString().slice(11, 19) : "–";
};

function listen(url, onSnapshot) {
  const source = new EventSource(url);
  const status = $("status");
  source.onmessage = (event) => {
    try {
      const stale = onSnapshot(JSON.parse(event.data));
      status.textContent = stale || "live";
      status.className = "status " + (stale ? "offline" : "ok");
    } catch (error) {
      status.textContent = "cannot draw: " + error.message;
      status.className = "status offline";
      throw error;
    }
  };
  source.onerror = () => {
    status.textContent = "reconnecting…";
    status.className = "status offline";
  };
  return source;
}
