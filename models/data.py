"""ECG5000 loading: UCR file formats, download, sha256 verification and caching."""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH
from stream.errors import DataError

logger = logging.getLogger(__name__)

ARCHIVE_URL = "https://www.timeseriesclassification.com/aeon-toolkit/ECG5000.zip"
SPLITS = ("TRAIN", "TEST")
FORMATS = (".txt", ".tsv", ".arff")
NORMAL_CLASS = 1
# sha256 of the distributed UCR text files (see the data README).
FILE_SHA256 = {
    "ECG5000_TRAIN.txt": "0d96aff193311a6dc6111bf0dbd2f7d2313987fbf7a1da4a383d92563876057b",
    "ECG5000_TEST.txt": "baf4ad57d28daa5e79050edd4185968181762bc83d45a757753015b4ba8ab295",
}
# sha256 of the float32 beats (TRAIN then TEST) followed by the int8 labels: format-independent.
ARRAY_SHA256 = "7315c131ffd1ac02069bb4169bfd1203f4857b586a4cf4590fc061cf9ab601a3"
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class Split:
    """One official UCR split.

    Attributes:
        beats: float32, shape ``(n, 140)``, z-normalized samples.
        labels: int8, shape ``(n,)``, classes 1 (normal) to 5.
    """

    beats: NDArray[np.float32]
    labels: NDArray[np.int8]


@dataclass(frozen=True)
class Ecg5000:
    """The whole data set, the official split kept, and where it came from.

    Attributes:
        train: ECG5000_TRAIN (500 beats).
        test: ECG5000_TEST (4500 beats).
        checksums: file name -> sha256 of the files read, plus ``arrays`` for the content.
        source: the directory the files were read from.
    """

    train: Split
    test: Split
    checksums: dict[str, str]
    source: Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(train: Split, test: Split) -> str:
    """Format-independent checksum: float32 beats (TRAIN, TEST) then int8 labels."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(np.concatenate([train.beats, test.beats])).tobytes())
    digest.update(np.concatenate([train.labels, test.labels]).tobytes())
    return digest.hexdigest()


def _parse_arff(path: Path) -> NDArray[np.float64]:
    """Rows of an ARFF file's @data section with the class moved to the first column."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().lower() == "@data"]
    if not starts:
        msg = f"{path}: no @data section"
        raise DataError(msg)
    rows = [line for line in lines[starts[0] + 1 :] if line.strip() and not line.startswith("%")]
    table = np.array([[float(v) for v in row.split(",")] for row in rows], dtype=np.float64)
    return np.concatenate([table[:, -1:], table[:, :-1]], axis=1)


def read_ucr(path: Path) -> Split:
    """Read one UCR split file (.txt whitespace, .tsv tab-separated, .arff), label first.

    Args:
        path: the file; its suffix chooses the parser.

    Returns:
        The split, beats float32 ``(n, 140)`` and labels int8 ``(n,)``.

    Raises:
        DataError: unreadable file, wrong shape, or labels outside 1..5.
    """
    try:
        if path.suffix == ".arff":
            table = _parse_arff(path)
        else:
            with warnings.catch_warnings():  # an empty file is reported below, not warned
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(path, delimiter="\t" if path.suffix == ".tsv" else None,
                                   ndmin=2)
    except (OSError, ValueError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise DataError(msg) from exc
    if table.shape[1] != BEAT_LENGTH + 1 or not np.isfinite(table).all():
        msg = f"{path}: expected rows of 1 label + {BEAT_LENGTH} finite samples, got {table.shape}"
        raise DataError(msg)
    labels = table[:, 0]
    if not np.isin(labels, [1, 2, 3, 4, 5]).all():
        msg = f"{path}: labels must be 1..5"
        raise DataError(msg)
    return Split(beats=table[:, 1:].astype(np.float32), labels=labels.astype(np.int8))


def find_split(directory: Path, split: str) -> Path | None:
    """The first ``ECG5000_<split>`` file in ``directory`` in a supported format, if any."""
    for suffix in FORMATS:
        candidate = directory / f"ECG5000_{split}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_dir(directory: Path) -> Ecg5000:
    """Load ECG5000_TRAIN and ECG5000_TEST from a directory, recording their checksums.

    Files whose checksum differs from the known one are used with a warning.

    Raises:
        DataError: a split is missing or unreadable.
    """
    paths = {split: find_split(directory, split) for split in SPLITS}
    missing = [split for split, path in paths.items() if path is None]
    if missing:
        msg = (f"{directory}: no ECG5000_{missing[0]}{{{','.join(FORMATS)}}}: point "
               f"ECG_DATA_DIR (or --data-dir) at a folder with {_expected()}, or unset it to "
               "download the UCR archive")
        raise DataError(msg)
    found = {split: path for split, path in paths.items() if path is not None}
    train, test = read_ucr(found["TRAIN"]), read_ucr(found["TEST"])
    checksums = {path.name: sha256_file(path) for path in found.values()}
    checksums["arrays"] = array_sha256(train, test)
    if checksums["arrays"] != ARRAY_SHA256:
        logger.warning("ECG5000 in %s differs from the official archive", directory)
    return Ecg5000(train=train, test=test, checksums=checksums, source=directory)


def verify(data: Ecg5000) -> None:
    """Check the known sha256 of every file read and of the array content.

    Raises:
        DataError: a checksum does not match.
    """
    for name, digest in data.checksums.items():
        expected = ARRAY_SHA256 if name == "arrays" else FILE_SHA256.get(name)
        if expected is not None and digest != expected:
            msg = f"checksum mismatch for {data.source / name}: {digest}, expected {expected}"
            raise DataError(msg)


def download(url: str, cache_dir: Path) -> Path:
    """Download the ECG5000 zip, extract its split files into ``cache_dir/ecg5000``.

    Raises:
        DataError: the archive cannot be fetched or read.
    """
    target = cache_dir / "ecg5000"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "ECG5000.zip.part"
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
            with archive.open("wb") as handle:
                shutil.copyfileobj(response, handle)
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                name = Path(member).name
                if name.startswith("ECG5000_") and Path(name).suffix in FORMATS:
                    (target / name).write_bytes(bundle.read(member))
    except (OSError, zipfile.BadZipFile) as exc:
        msg = f"cannot download ECG5000 from {url}: {exc}"
        raise DataError(msg) from exc
    finally:
        archive.unlink(missing_ok=True)
    return target


def load_ecg5000(
    data_dir: Path | None, cache_dir: Path, url: str = ARCHIVE_URL, allow_download: bool = True
) -> Ecg5000:
    """Load ECG5000 from ``data_dir``; when unset, from the verified cache or a fresh download.

    Args:
        data_dir: directory with the split files (``ECG_DATA_DIR`` / ``--data-dir``), or None.
        cache_dir: where downloads are kept (``ECG_CACHE_DIR``).
        url: the official UCR archive.
        allow_download: False to fail instead of using the network.

    Raises:
        DataError: no data and no download possible, or a checksum mismatch.
    """
    if data_dir is not None:
        return load_dir(Path(data_dir))
    cached = Path(cache_dir) / "ecg5000"
    if all(find_split(cached, split) for split in SPLITS):
        data = load_dir(cached)
        verify(data)
        return data
    if not allow_download:
        msg = f"no ECG5000 data: set ECG_DATA_DIR (or --data-dir) to a directory with {_expected()}"
        raise DataError(msg)
    try:
        data = load_dir(download(url, Path(cache_dir)))
        verify(data)
    except DataError as exc:
        shutil.rmtree(cached, ignore_errors=True)
        msg = f"{exc}; set ECG_DATA_DIR (or --data-dir) to a directory with {_expected()}"
        raise DataError(msg) from exc
    return data


def _expected() -> str:
    return "ECG5000_TRAIN.txt and ECG5000_TEST.txt (or .tsv/.arff) from the UCR archive"
