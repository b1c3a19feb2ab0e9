import functools
import http.server
import os
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models import data as data_module
from models.data import load_dir, load_ecg5000, read_ucr
from stream.errors import DataError

SHARED = Path(os.environ.get("ECG_DATA_DIR", Path(__file__).parents[3] / "shared/data/ecg5000"))
needs_data = pytest.mark.usefixtures("require_data")


def _table(n=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 6, size=(n, 1)).astype(float)
    return np.hstack([labels, rng.standard_normal((n, 140)).round(7)])


def _write(path: Path, table: np.ndarray) -> Path:
    if path.suffix == ".txt":
        np.savetxt(path, table, fmt="%16.7e", delimiter="")
    elif path.suffix == ".tsv":
        np.savetxt(path, table, fmt="%.7f", delimiter="\t")
    else:
        header = ["@relation ECG5000"] + [f"@attribute att{i} numeric" for i in range(140)]
        header += ["@attribute target {1,2,3,4,5}", "@data"]
        rows = [",".join(f"{v:.7f}" for v in row[1:]) + f",{int(row[0])}" for row in table]
        path.write_text("\n".join(header + rows) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".txt", ".tsv", ".arff"])
def test_read_ucr_formats(tmp_path, suffix):
    table = _table()
    split = read_ucr(_write(tmp_path / f"ECG5000_TRAIN{suffix}", table))
    assert split.beats.dtype == np.float32 and split.beats.shape == (4, 140)
    assert split.labels.dtype == np.int8
    np.testing.assert_array_equal(split.labels, table[:, 0])
    np.testing.assert_allclose(split.beats, table[:, 1:], atol=1e-6)


@pytest.mark.parametrize(
    ("content", "match"),
    [("1 2 3\n", "expected rows"), ("", "expected rows"), ("x y\n", "cannot read")],
)
def test_read_ucr_rejects_bad_files(tmp_path, content, match):
    path = tmp_path / "ECG5000_TRAIN.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_ucr(path)


def test_read_ucr_rejects_bad_labels(tmp_path):
    table = _table()
    table[0, 0] = 9
    with pytest.raises(DataError, match="labels"):
        read_ucr(_write(tmp_path / "ECG5000_TEST.txt", table))


def test_load_dir_missing_split(tmp_path):
    _write(tmp_path / "ECG5000_TRAIN.txt", _table())
    with pytest.raises(DataError, match="ECG5000_TEST"):
        load_dir(tmp_path)


def test_offline_without_data_names_variable_and_files(tmp_path):
    with pytest.raises(DataError, match="ECG_DATA_DIR.*ECG5000_TRAIN.txt"):
        load_ecg5000(None, tmp_path, allow_download=False)


def test_unreachable_download_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot download.*ECG_DATA_DIR"):
        load_ecg5000(None, tmp_path, url="http://127.0.0.1:9/ECG5000.zip")


@pytest.fixture
def serve(tmp_path):
    """Serve a directory on 127.0.0.1; yields a function name -> URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()
    server.server_close()


def _zip(root: Path, corrupt: bool = False) -> None:
    with zipfile.ZipFile(root / "ECG5000.zip", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("ECG5000_TRAIN.txt", (SHARED / "ECG5000_TRAIN.txt").read_bytes())
        test = bytearray((SHARED / "ECG5000_TEST.txt").read_bytes())
        if corrupt:
            test[20:21] = b"9" if test[20:21] != b"9" else b"8"
        bundle.writestr("ECG5000_TEST.txt", bytes(test))
        bundle.writestr("README.md", "not a split")


@needs_data
def test_download_verifies_and_caches(serve, tmp_path):
    root, url = serve
    _zip(root)
    cache = tmp_path / "cache"
    data = load_ecg5000(None, cache, url=url("ECG5000.zip"))
    assert data.checksums == {**data_module.FILE_SHA256, "arrays": data_module.ARRAY_SHA256}
    assert data.train.beats.shape == (500, 140) and data.test.beats.shape == (4500, 140)
    (root / "ECG5000.zip").unlink()  # the second load must come from the cache
    again = load_ecg5000(None, cache, url=url("ECG5000.zip"))
    assert again.source == cache / "ecg5000"
    assert not (cache / "ecg5000" / "README.md").exists()


@needs_data
def test_download_checksum_mismatch_is_refused_and_not_cached(serve, tmp_path):
    root, url = serve
    _zip(root, corrupt=True)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch.*ECG5000_TEST.txt"):
        load_ecg5000(None, cache, url=url("ECG5000.zip"))
    assert not (cache / "ecg5000").exists()


@needs_data
def test_tampered_cache_is_refused(tmp_path):
    cache = tmp_path / "ecg5000"
    cache.mkdir()
    shutil.copy(SHARED / "ECG5000_TRAIN.txt", cache)
    (cache / "ECG5000_TEST.txt").write_bytes((SHARED / "ECG5000_TRAIN.txt").read_bytes())
    with pytest.raises(DataError, match="checksum mismatch"):
        load_ecg5000(None, tmp_path, allow_download=False)


@needs_data
def test_shared_data_matches_known_checksums():
    data = load_ecg5000(SHARED, Path("/nonexistent"))
    data_module.verify(data)
    assert data.checksums["arrays"] == data_module.ARRAY_SHA256
