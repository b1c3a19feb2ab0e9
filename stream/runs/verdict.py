"""What a demo run's figures say: kept up or not, the thresholds in force, the verdict.

The verdict line and the summary are what ``ecg-stream demo`` prints. Pure: a report
dictionary in, keys and lines out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The stream kept up when the beats' median latency stayed under this and the scored rate
# reached this fraction of the offered one (a run that falls behind queues beats, so its
# latency grows with the run: seconds, not milliseconds).
KEPT_UP_P50_MS = 1000.0
KEPT_UP_FRACTION = 0.8

EXIT_OK, EXIT_FAILED, EXIT_BEHIND = 0, 1, 3


def kept_up(report: Mapping[str, Any]) -> tuple[bool | None, list[str]]:
    """Whether the run kept up with its offered rate (None: no rate offered), and why not."""
    rate = float(report.get("offered_rate_beats_per_s") or 0.0)
    if rate <= 0:
        return None, []
    why = []
    replayed = float(report.get("replay_beats_per_s") or 0.0)
    if replayed < KEPT_UP_FRACTION * rate:
        why.append(f"the replay sent {replayed:,.0f} beats/s of the {rate:,.0f} offered")
    scored = float(report.get("throughput_beats_per_s") or 0.0)
    if scored < KEPT_UP_FRACTION * min(rate, replayed or rate):
        why.append(f"the workers scored {scored:,.0f} beats/s of the {rate:,.0f} offered")
    p50 = (report.get("latency_ms") or {}).get("p50")
    if p50 is not None and p50 > KEPT_UP_P50_MS:
        why.append(f"the median beat latency was {p50 / 1000:,.1f} s (the beats queued)")
    return not why, why


def thresholds_in_force(report: Mapping[str, Any]) -> tuple[str, str | None]:
    """The thresholds that judged the beats, and a note when not what the mode suggests.

    ``threshold_sources`` (beat mode) counts beats per source (``static`` / ``patient``);
    ``judged_by`` (continuous mode) counts ``model`` / ``learning`` / ``patient``.
    """
    sources = {k: v for k, v in (report.get("threshold_sources") or {}).items() if v}
    mode = report.get("threshold_mode")
    if sources:
        in_force = "static" if set(sources) == {"static"} else (
            "patient" if set(sources) == {"patient"} else "mixed")
        if mode == "adaptive" and in_force == "static":
            return in_force, ("ECG_THRESHOLD_MODE is adaptive, but every beat was judged on the "
                              "checkpoint's static threshold: no patient had ECG_WARMUP_BEATS "
                              "beats judged normal")
        return in_force, None
    judged = {k: v for k, v in (report.get("judged_by") or {}).items() if v}
    if not judged:
        return "none", None
    if set(judged) == {"model"}:
        return "model", None
    return "+".join(sorted(judged)), None


def assess(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with ``kept_up``, ``thresholds_in_force``, ``notes``, ``verdict``, ``exit_code``.

    The exit code: :data:`EXIT_OK`; :data:`EXIT_FAILED` when a beat was lost or the worker
    failed; :data:`EXIT_BEHIND` when every beat was accounted for but the offered rate was
    not kept up.
    """
    notes: list[str] = []
    failed = []
    if report.get("mode") == "beat" and report.get("missing"):
        failed.append(f"{report['missing']:,} beats were never scored")
    if report.get("worker_exit_code") not in (0, None):
        failed.append(f"the worker exited with {report['worker_exit_code']}")
    up, behind = kept_up(report)
    in_force, note = thresholds_in_force(report)
    if note:
        notes.append(note)
    if failed:
        verdict, code = "FAILED: " + "; ".join(failed), EXIT_FAILED
    elif up is False:
        verdict, code = "FELL BEHIND: " + "; ".join(behind), EXIT_BEHIND
    else:
        verdict, code = _pass_line(report), EXIT_OK
    return {**report, "kept_up": up, "thresholds_in_force": in_force, "notes": notes,
            "verdict": verdict, "exit_code": code}


def _pass_line(report: Mapping[str, Any]) -> str:
    if report.get("mode") == "continuous":
        return (f"OK: {report.get('beats_scored', 0):,} beats found and scored "
                f"(segmentation recall {report.get('segmentation_recall', 0):.3f})")
    return f"OK: every one of the {report.get('beats_sent', 0):,} beats scored once"


def _ms(values: Mapping[str, Any] | None) -> str:
    if not values or values.get("p50") is None:
        return "n/a"
    return " / ".join(f"{values[k]:,.0f}" for k in ("p50", "p95", "p99")) + " ms"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The human summary of an assessed demo report (:func:`assess`)."""
    mode = report.get("mode", "beat")
    lines = [f"demo ({mode} mode, {report.get('patients', 0):,} patients): {report['verdict']}"]
    beats = (f"{report.get('beats_sent', 0):,} sent, {report.get('beats_scored', 0):,} scored, "
             f"{report.get('missing', 0):,} missing, {report.get('duplicates', 0):,} "
             f"duplicates, {report.get('dead_lettered', 0):,} dead letters")
    lines.append(f"  beats        {beats}")
    if mode == "continuous":
        lines.append(f"  segmentation recall {report.get('segmentation_recall', 0):.3f}, "
                     f"precision {report.get('segmentation_precision', 0):.3f}")
    detection = (f"precision {report.get('precision', 0):.3f}, recall "
                 f"{report.get('recall', 0):.3f}, F1 {report.get('f1', 0):.4f}")
    if report.get("offline_f1") is not None:
        detection += (f" (offline F1 {report['offline_f1']:.4f}; "
                      f"{report.get('decisions_match_offline', 0):,} decisions as offline)")
    lines.append(f"  detection    {detection}")
    lines.append(f"  anomalies    {report.get('anomalies', 0):,} beats, "
                 f"{report.get('alerts', 0):,} alerts")
    rate = float(report.get("offered_rate_beats_per_s") or 0.0)
    offered = f"{rate:,.0f} beats/s offered" if rate > 0 else "as fast as possible"
    lines.append(f"  rate         {offered}, {report.get('replay_beats_per_s', 0):,.0f} "
                 f"replayed, {report.get('throughput_beats_per_s', 0):,.0f} scored per second")
    lines.append(f"  latency      beat p50 / p95 / p99 {_ms(report.get('beat_latency_ms'))}"
                 + (f"; frame {_ms(report.get('frame_latency_ms'))}"
                    if mode == "continuous" else ""))
    lines.append(f"  thresholds   {report.get('thresholds_in_force')} "
                 f"(ECG_THRESHOLD_MODE {report.get('threshold_mode')})")
    lines.extend(f"  note         {note}" for note in report.get("notes", []))
    lines.append(f"  worker       ready in {report.get('worker_ready_s', 0):.1f} s, exit code "
                 f"{report.get('worker_exit_code')}")
    lines.append(f"  manifest     {report.get('manifest')}")
    return lines
