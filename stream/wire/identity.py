"""Beat identity: which score records describe the same heartbeat.

Beat mode: a beat is (patient, seq, sent_ms); a duplicate (the same beat scored again after a
crash) carries the same three values.

Continuous mode: a beat is (patient, onset_sample), with a tolerance. ``onset_sample`` is
absolute in the patient's signal (frames carry ``start_sample``), so it survives a change of
owner, while ``seq`` only counts the beats one worker cut (a new owner starts again at 0).
A new owner re-cuts the beats of the frames it re-reads, and its onsets may differ from the
first owner's by a few samples (up to 14 in issue 13's run, 20 in
``tests/integration/test_owner_change.py``: the new owner's first beat, starting later and
ending at the same sample). Two records of one patient are the same beat when their onsets
differ by at most :data:`SAME_BEAT_FRACTION` of the earlier beat's length
(``resampled_from``, or 140 when absent), in the stream's samples: 42 samples for a
140-sample beat. The tolerance follows the sampling rate and heart rate without a sampling
rate in the record, and stays well below one beat: one owner's consecutive beats are a whole
beat apart (a beat ends where the next one starts), so they are never merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from stream.wire.schemas import BEAT_LENGTH, ScoreRecord

SAME_BEAT_FRACTION = 0.3
"""Onsets within this fraction of a beat's length are the same beat (continuous mode)."""


def beat_length(record: ScoreRecord) -> int:
    """The beat's length in the stream's samples before resampling."""
    return record.resampled_from or BEAT_LENGTH


def onset_tolerance(length: int) -> int:
    """Samples within which another onset is the same beat as one of ``length`` samples."""
    return max(1, round(SAME_BEAT_FRACTION * length))


def same_beat(onset: int, length: int, other: int) -> bool:
    """Whether an onset ``other`` is the beat of ``length`` samples starting at ``onset``."""
    return abs(other - onset) <= onset_tolerance(length)


def beat_clusters(records: Iterable[ScoreRecord]) -> list[list[ScoreRecord]]:
    """Continuous-mode records grouped by beat, each group's first published record first.

    Records are grouped per patient in onset order: one joins the group whose lowest onset
    it is :func:`same_beat` with. Records without ``onset_sample`` are left out.
    """
    by_patient: dict[str, list[ScoreRecord]] = defaultdict(list)
    for record in records:
        if record.onset_sample is not None:
            by_patient[record.patient].append(record)
    groups: list[list[ScoreRecord]] = []
    for found in by_patient.values():
        groups.extend(_cluster(sorted(found, key=lambda r: (r.onset_sample, r.published_ms))))
    return [sorted(group, key=lambda r: r.published_ms) for group in groups]


def _cluster(ordered: Sequence[ScoreRecord]) -> list[list[ScoreRecord]]:
    groups: list[list[ScoreRecord]] = []
    for record in ordered:
        anchor = groups[-1][0] if groups else None
        if anchor is not None and same_beat(int(anchor.onset_sample or 0), beat_length(anchor),
                                            int(record.onset_sample or 0)):
            groups[-1].append(record)
        else:
            groups.append([record])
    return groups


def distinct_beats(records: Iterable[ScoreRecord]) -> int:
    """How many different beats ``records`` describe (both modes, duplicates counted once)."""
    beats: set[tuple[str, int, int]] = set()
    continuous: list[ScoreRecord] = []
    for record in records:
        if record.mode == "continuous":
            continuous.append(record)
        else:
            beats.add((record.patient, record.seq, record.sent_ms))
    return len(beats) + len(beat_clusters(continuous))
