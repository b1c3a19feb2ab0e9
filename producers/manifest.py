"""The replay manifest: the truth about every beat sent (JSON lines), for evaluation only.

The first line is a header ``{"manifest": 1, "started_ms": ..., ...}`` (replay options and
start time); then one record per beat: ``mode``, ``patient``, ``seq``, ``onset_sample``
(continuous mode: the true onset in the patient's signal; beat mode: null), ``length``
(samples as sent), ``source_row`` (into ECG5000 TRAIN then TEST), ``label`` (1 normal, 2-5
anomalous) and ``sent_ms`` (beat mode: the message's send time, so a score record joins on
patient, seq and sent_ms exactly). Labels and true onsets never travel to the worker.

A replay of real recordings writes, instead, the record's reference annotations in each
simulated patient's sample indices (``{"kind": "annotation", "patient", "sample",
"symbol"}``) and, at the end, how many samples each patient's signal ran to (``{"kind":
"extent", "patient", "samples", "fs"}``): evaluation counts only the annotations sent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from stream.wire.schemas import now_ms

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestRecord:
    """The truth about one beat sent."""

    mode: str
    patient: str
    seq: int
    onset_sample: int | None
    length: int
    source_row: int
    label: int
    sent_ms: int | None = None


@dataclass(frozen=True)
class AnnotationRecord:
    """A reference annotation of a replayed recording, in the patient's sample index."""

    patient: str
    sample: int
    symbol: str


@dataclass(frozen=True)
class ExtentRecord:
    """How far a replayed patient's signal went: samples ``[0, samples)`` at ``fs``."""

    patient: str
    samples: int
    fs: float


class ManifestWriter:
    """Appends records to a JSON-lines file; a context manager."""

    def __init__(self, path: Path, header: dict[str, Any] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self.count = 0
        self.header = {"manifest": MANIFEST_VERSION, "started_ms": now_ms(), **(header or {})}
        self._file.write(json.dumps(self.header) + "\n")

    def write(self, record: ManifestRecord) -> None:
        """Append one record."""
        self._file.write(json.dumps(asdict(record), separators=(",", ":")) + "\n")
        self.count += 1

    def write_annotation(self, record: AnnotationRecord) -> None:
        """Append one reference annotation (record replays)."""
        self._file.write(json.dumps({"kind": "annotation", **asdict(record)},
                                    separators=(",", ":")) + "\n")

    def write_extent(self, record: ExtentRecord) -> None:
        """Append how far one patient's signal went (record replays, at the end)."""
        self._file.write(json.dumps({"kind": "extent", **asdict(record)},
                                    separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest(path: Path) -> tuple[dict[str, Any], list[ManifestRecord]]:
    """The header and the records of a manifest file, in the order written."""
    header: dict[str, Any] = {}
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            data = json.loads(line)
            if "manifest" in data:
                header = data
            elif "kind" not in data:
                records.append(ManifestRecord(**data))
    return header, records


def read_annotations(path: Path) -> tuple[list[AnnotationRecord], dict[str, ExtentRecord]]:
    """The reference annotations and each patient's extent of a record replay's manifest."""
    annotations: list[AnnotationRecord] = []
    extents: dict[str, ExtentRecord] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            data = json.loads(line)
            kind = data.pop("kind", None)
            if kind == "annotation":
                annotations.append(AnnotationRecord(**data))
            elif kind == "extent":
                extents[data["patient"]] = ExtentRecord(**data)
    return annotations, extents
