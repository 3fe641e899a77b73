import urllib.error
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest

from spikegrad.data import published
from spikegrad.data.download import DatasetUnavailable
from spikegrad.data.published import (
    ARCHIVES,
    DOWNLOADERS,
    PUBLISHED,
    crop,
    download,
    nmnist,
    read_nmnist_bin,
    shd,
    shd_split_indices,
    ssc,
)
from spikegrad.data.spikedata import DataError, SpikeData

# ---------------------------------------------------------------------------------------------- SHD / SSC

KEYS = [f"word{k}" for k in range(20)]


def write_hsd(path: Path, times_s, units, labels, speakers, keys=KEYS):
    """An SHD-format file laid out as the published ones: vlen float16 times (s), vlen uint16 units, uint16
    labels, byte-string extra/keys, uint16 extra/speaker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(labels),), dtype=h5py.vlen_dtype(np.dtype("float16")))
        u = f.create_dataset("spikes/units", (len(labels),), dtype=h5py.vlen_dtype(np.dtype("uint16")))
        for k in range(len(labels)):
            t[k] = np.asarray(times_s[k], dtype=np.float16)
            u[k] = np.asarray(units[k], dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
    return path


# float16-exact spike times (s); 1.0 s and 1.25 s lie outside a 1000 ms trial
TRAIN_TIMES = [[0.0009765625, 0.5, 1.25], [0.125, 0.25], [0.75], [], [0.5, 0.5, 1.0], [0.0625]]
TRAIN_UNITS = [[3, 699, 5], [0, 1], [42], [], [7, 8, 9], [100]]
TRAIN_LABELS = [0, 19, 5, 5, 3, 1]
TRAIN_SPEAKERS = [2, 7, 2, 0, 7, 0]
TEST_TIMES = [[0.25, 0.375], [0.875]]
TEST_UNITS = [[10, 11], [12]]


@pytest.fixture
def shd_root(tmp_path):
    write_hsd(tmp_path / "SHD" / "shd_train.h5", TRAIN_TIMES, TRAIN_UNITS, TRAIN_LABELS, TRAIN_SPEAKERS)
    write_hsd(tmp_path / "SHD" / "shd_test.h5", TEST_TIMES, TEST_UNITS, [4, 9], [4, 5])
    return tmp_path


def events(d, k):
    a, b = d.offsets[k], d.offsets[k + 1]
    return d.times[a:b].tolist(), d.units[a:b].tolist()


def test_shd_test_split_exact(shd_root):
    d = shd("test", shd_root)
    assert (d.n_units, d.n_classes, d.duration, d.name) == (700, 20, 1000.0, "shd")
    assert d.labels.tolist() == [4, 9]
    assert events(d, 0) == ([250.0, 375.0], [10, 11]) and events(d, 1) == ([875.0], [12])
    assert d.meta["speaker"] == [4, 5] and d.meta["sample_ids"] == [0, 1] and d.meta["keys"] == KEYS
    assert d.meta["file"] == "shd_test.h5" and d.meta["archive"]["md5"] == ARCHIVES["shd", "test"][1]


def test_shd_speaker_holdout(shd_root):
    train, val = shd("train", shd_root), shd("validation", shd_root)
    # default: the lowest speaker id (0) is held out: samples 3 and 5
    assert val.meta["sample_ids"] == [3, 5] and val.meta["speaker"] == [0, 0] and val.meta["val_speaker"] == 0
    assert train.meta["sample_ids"] == [0, 1, 2, 4] and train.meta["speaker"] == [2, 7, 2, 7]
    assert val.labels.tolist() == [5, 1] and train.labels.tolist() == [0, 19, 5, 3]
    assert events(val, 0) == ([], []) and events(val, 1) == ([62.5], [100])
    # times in ms; events at t >= 1000 ms dropped (1.25 s in sample 0, 1.0 s in sample 4)
    assert events(train, 0) == ([0.9765625, 500.0], [3, 699])
    assert events(train, 3) == ([500.0, 500.0], [7, 8])
    assert train.meta["events_dropped"] == 2 and "speaker 0" in train.meta["split_rule"]
    other = shd("validation", shd_root, val_speaker=7)
    assert other.meta["sample_ids"] == [1, 4] and other.meta["params"]["val_speaker"] == 7
    with pytest.raises(ValueError, match="val_speaker 3 is not in the training file"):
        shd("validation", shd_root, val_speaker=3)


def test_shd_duration_and_no_holdout(shd_root):
    d = shd("train", shd_root, duration=1400.0, holdout="none")
    assert len(d) == 6 and d.duration == 1400.0 and d.meta["events_dropped"] == 0
    assert events(d, 0) == ([0.9765625, 500.0, 1250.0], [3, 699, 5]) and events(d, 4)[0] == [500.0, 500.0, 1000.0]
    with pytest.raises(ValueError, match="no validation split"):
        shd("validation", shd_root, holdout="none")
    with pytest.raises(ValueError, match="unknown holdout"):
        shd("train", shd_root, holdout="random")


def test_eventprop_holdout(tmp_path):
    n = 520
    write_hsd(tmp_path / "SHD" / "shd_train.h5", [[0.5]] * n, [[1]] * n, np.arange(n) % 20, np.arange(n) % 10)
    train, val = shd("train", tmp_path, holdout="eventprop"), shd("validation", tmp_path, holdout="eventprop")
    assert (len(train), len(val)) == (8, 512)
    order = np.arange(n)
    np.random.default_rng(123).shuffle(order)
    assert val.meta["sample_ids"] == sorted(order[8:].tolist())
    assert sorted(train.meta["sample_ids"] + val.meta["sample_ids"]) == list(range(n))
    with pytest.raises(ValueError, match="more than 512"):
        shd_split_indices(np.zeros(512), "eventprop")


def test_shd_same_events_as_tonic(shd_root):
    from tonic.datasets import SHD

    (shd_root / "SHD" / "shd_train.h5.zip").write_bytes(b"")  # tonic only checks that the archive exists
    ours = shd("train", shd_root, duration=2000.0, holdout="none")
    theirs = SHD(save_to=str(shd_root), train=True)
    assert len(theirs) == len(ours)
    assert theirs.speaker.tolist() == ours.meta["speaker"]
    for k in range(len(theirs)):
        ev, label = theirs[k]
        times, units = events(ours, k)
        assert label == ours.labels[k]
        assert ev["x"].tolist() == units
        assert np.allclose(ev["t"] / 1000.0, times, rtol=0, atol=1e-3)  # tonic: int µs


def test_ssc_splits(tmp_path):
    keys = [f"cmd{k}" for k in range(35)]
    for k, split in enumerate(("train", "valid", "test")):
        write_hsd(tmp_path / "SSC" / f"ssc_{split}.h5", [[0.5 + k / 8]], [[k]], [34 - k], [k], keys)
    for k, split in enumerate(("train", "validation", "test")):
        d = ssc(split, tmp_path)
        assert d.n_classes == 35 and d.labels.tolist() == [34 - k] and events(d, 0) == ([500.0 + 125 * k], [k])
    assert ssc("validation", tmp_path).meta["file"] == "ssc_valid.h5"


def test_missing_and_corrupt_shd(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        shd("train", tmp_path)
    message = str(info.value)
    assert f"expected {tmp_path / 'SHD' / 'shd_train.h5'}" in message
    assert f"python -m spikegrad.data download shd --root {tmp_path}" in message
    assert f"copy the folder {tmp_path / 'SHD'}" in message
    assert "https://zenkelab.org/datasets/shd_train.h5.zip and unpack it" in message
    bad = tmp_path / "SHD" / "shd_test.h5"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="shd_test.h5") as info:
        shd("test", tmp_path)
    assert not isinstance(info.value, DatasetUnavailable)


def test_crop():
    d = SpikeData([1.0, 5.0, 2.0, 9.0], [0, 1, 2, 3], [0, 2, 2, 4], [0, 1, 0], 4, 2, 10.0)
    out, dropped = crop(d, 5.0)
    assert dropped == 2 and out.duration == 5.0
    assert out.offsets.tolist() == [0, 1, 1, 2] and out.times.tolist() == [1.0, 2.0] and out.units.tolist() == [0, 2]


# ---------------------------------------------------------------------------------------------- N-MNIST


def encode_event(x, y, t, p):
    return bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])


def write_nmnist(path: Path, evs):
    """A .bin file from (x, y, t_us, p) tuples in file order (y == 240 writes an overflow marker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode_event(*e) for e in evs))
    return path


# (x, y, t_us, p) as written; 0x7FFFFF-wide timestamps exercise all 23 bits
SAMPLE_A = [(0, 0, 5, 1), (33, 33, 1500, 0), (2, 3, 0x12345, 1)]
SAMPLE_OVERFLOW = [(1, 2, 100, 0), (4, 5, 5000, 1), (0, 240, 0, 0), (6, 7, 200, 1), (8, 9, 300, 0)]


def f32(times_ms):
    """The float32 values SpikeData stores for these times."""
    return np.asarray(times_ms, dtype=np.float32).tolist()


def unit(x, y, p):
    return p * 34 * 34 + y * 34 + x


@pytest.fixture
def nmnist_root(tmp_path):
    base = tmp_path / "NMNIST"
    write_nmnist(base / "Train" / "0" / "00002.bin", SAMPLE_A)
    write_nmnist(base / "Train" / "0" / "00021.bin", SAMPLE_OVERFLOW)
    write_nmnist(base / "Train" / "1" / "00004.bin", [(9, 9, 400000, 1), (3, 3, 50000, 0)])  # unsorted, late
    write_nmnist(base / "Train" / "5" / "00001.bin", [(5, 5, 10, 1)])
    write_nmnist(base / "Test" / "7" / "00001.bin", [(1, 1, 999, 0)])
    write_nmnist(base / "Test" / "2" / "00002.bin", [])
    return tmp_path


def test_read_nmnist_bin_exact(nmnist_root):
    x, y, t, p = read_nmnist_bin(nmnist_root / "NMNIST" / "Train" / "0" / "00002.bin")
    assert list(zip(x.tolist(), y.tolist(), t.tolist(), p.tolist(), strict=True)) == SAMPLE_A
    # overflow marker dropped, 2**13 µs added to it and everything after it
    x, y, t, p = read_nmnist_bin(nmnist_root / "NMNIST" / "Train" / "0" / "00021.bin")
    assert t.tolist() == [100, 5000, 8392, 8492] and y.tolist() == [2, 5, 7, 9] and p.tolist() == [0, 1, 1, 0]


def test_read_nmnist_matches_tonic_io(nmnist_root):
    from tonic.datasets import NMNIST
    from tonic.io import read_mnist_file

    for path in sorted((nmnist_root / "NMNIST").rglob("*.bin")):
        theirs = read_mnist_file(str(path), dtype=NMNIST.dtype)
        ours = read_nmnist_bin(path)
        for field, arr in zip("xytp", ours, strict=True):
            assert theirs[field].tolist() == arr.tolist(), (path, field)


def test_nmnist_splits_exact(nmnist_root):
    train = nmnist("train", nmnist_root, n_validation=1)
    val = nmnist("validation", nmnist_root, n_validation=1)
    test = nmnist("test", nmnist_root)
    assert (train.n_units, train.n_classes, train.duration) == (2312, 10, 316.0)
    # validation: the highest file number (00021); order otherwise as tonic: digit folders, then file names
    assert val.meta["sample_ids"] == [21] and val.labels.tolist() == [0]
    assert train.meta["sample_ids"] == [2, 4, 1] and train.labels.tolist() == [0, 1, 5]
    assert events(train, 0) == (f32([0.005, 1.5, 0x12345 / 1000]), [unit(0, 0, 1), unit(33, 33, 0), unit(2, 3, 1)])
    # the sample recorded out of order is sorted by time; its 400 ms event lies outside the 316 ms trial
    assert events(train, 1) == ([50.0], [unit(3, 3, 0)]) and train.meta["events_dropped"] == 1
    assert events(val, 0) == (
        f32([0.1, 5.0, 8.392, 8.492]),
        [unit(1, 2, 0), unit(4, 5, 1), unit(6, 7, 1), unit(8, 9, 0)],
    )
    assert test.labels.tolist() == [2, 7] and test.meta["sample_ids"] == [2, 1]
    assert events(test, 0) == ([], []) and events(test, 1) == (f32([0.999]), [unit(1, 1, 0)])
    everything = nmnist("train", nmnist_root, n_validation=0, duration=500.0)
    assert len(everything) == 4 and events(everything, 2)[0] == [50.0, 400.0]
    with pytest.raises(ValueError, match="n_validation"):
        nmnist("train", nmnist_root)  # default 5000 > 4 files


def test_nmnist_same_as_tonic_dataset(nmnist_root):
    from tonic.datasets import NMNIST

    ours = nmnist("train", nmnist_root, n_validation=0, duration=1000.0)
    with mock.patch.object(NMNIST, "_check_exists", return_value=True):
        theirs = NMNIST(save_to=str(nmnist_root), train=True)
    assert len(theirs) == len(ours)
    for k in range(len(theirs)):
        ev, label = theirs[k]
        order = np.argsort(ev["t"], kind="stable")
        ev = ev[order]
        assert label == ours.labels[k]
        times, units = events(ours, k)
        assert units == (ev["p"] * 34 * 34 + ev["y"] * 34 + ev["x"]).tolist()
        assert np.allclose(times, ev["t"] / 1000.0, rtol=1e-7, atol=0)


def test_nmnist_bad_files(nmnist_root, tmp_path):
    path = nmnist_root / "NMNIST" / "Train" / "0" / "00002.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataError, match="00002.bin: truncated"):
        nmnist("train", nmnist_root, n_validation=1)
    write_nmnist(path, [(34, 0, 1, 0)])
    with pytest.raises(DataError, match=r"00002.bin: event 0 at \(x, y\) = \(34, 0\)"):
        read_nmnist_bin(path)
    with pytest.raises(DatasetUnavailable) as info:
        nmnist("test", tmp_path / "empty")
    message = str(info.value)
    assert f"expected {tmp_path / 'empty' / 'NMNIST' / 'Test'}" in message
    assert "python -m spikegrad.data download nmnist --root" in message and "data.mendeley.com" in message
    (tmp_path / "empty" / "NMNIST" / "Test" / "3").mkdir(parents=True)
    with pytest.raises(DatasetUnavailable, match="N-MNIST Test folder"):
        nmnist("test", tmp_path / "empty")


# ---------------------------------------------------------------------------------------------- downloads


def test_registries():
    names = {"shd", "ssc", "nmnist", "mnist", "fashion-mnist", "emnist"}
    assert set(PUBLISHED) == names and set(DOWNLOADERS) == names
    with pytest.raises(ValueError, match="unknown published dataset 'nope'"):
        download("nope", "/nowhere")


def test_archive_table_matches_tonic():
    from tonic.datasets import NMNIST, SHD, SSC

    assert ARCHIVES["shd", "train"] == (SHD.base_url + SHD.train_zip, SHD.train_md5)
    assert ARCHIVES["shd", "test"] == (SHD.base_url + SHD.test_zip, SHD.test_md5)
    for split in ("train", "valid", "test"):
        assert ARCHIVES["ssc", split] == (SSC.base_url + getattr(SSC, f"{split}_zip"), getattr(SSC, f"{split}_md5"))
    assert ARCHIVES["nmnist", "train"] == (NMNIST.train_url, NMNIST.train_md5)
    assert ARCHIVES["nmnist", "test"] == (NMNIST.test_url, NMNIST.test_md5)


def fake_tonic_download(calls):
    """Stands in for tonic's download_and_extract_archive: 'extracts' a tiny SHD file beside the archive."""

    def fake(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, download_root, filename, md5))
        root = Path(download_root)
        root.mkdir(parents=True, exist_ok=True)
        (root / filename).write_bytes(b"zip")
        name = filename.removesuffix(".zip")
        write_hsd(root / name, [[0.5]], [[1]], [3], [0] if "test" in name else [1])

    return fake


def test_download_shd_through_tonic(tmp_path):
    calls = []
    with mock.patch("tonic.dataset.download_and_extract_archive", fake_tonic_download(calls)):
        paths = published.download_shd(tmp_path)
    assert [c[2] for c in calls] == ["shd_train.h5.zip", "shd_test.h5.zip"]
    assert calls[0][3] == ARCHIVES["shd", "train"][1]  # tonic checks the archive's MD5
    assert sorted(p.name for p in paths) == ["shd_test.h5", "shd_test.h5.zip", "shd_train.h5", "shd_train.h5.zip"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHD"]  # the staging folder is gone
    assert shd("test", tmp_path).labels.tolist() == [3]
    with mock.patch("tonic.dataset.download_and_extract_archive", side_effect=AssertionError("downloaded twice")):
        assert sorted(download("shd", tmp_path)) == sorted(paths)


def test_download_offline_and_corrupt(tmp_path):
    offline = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    with mock.patch("tonic.dataset.download_and_extract_archive", side_effect=offline):
        with pytest.raises(DatasetUnavailable) as info:
            published.download_ssc(tmp_path)
    message = str(info.value)
    assert "name resolution" in message and "https://zenkelab.org/datasets/ssc_train.h5.zip" in message
    assert f"python -m spikegrad.data download ssc --root {tmp_path}" in message
    assert not (tmp_path / "SSC").exists()
    bad_md5 = RuntimeError("File not found or corrupted.")
    with mock.patch("tonic.dataset.download_and_extract_archive", side_effect=bad_md5):
        with pytest.raises(DataError, match="MD5"):
            published.download_shd(tmp_path)


def test_download_nmnist_through_tonic(tmp_path):
    def fake(url, download_root, filename=None, md5=None, **kwargs):
        root = Path(download_root)
        root.mkdir(parents=True, exist_ok=True)
        (root / filename).write_bytes(b"zip")
        folder = "Train" if filename == "train.zip" else "Test"
        write_nmnist(root / folder / "4" / "00009.bin", [(1, 2, 3000, 1)])

    with mock.patch("tonic.dataset.download_and_extract_archive", fake):
        paths = download("nmnist", tmp_path)
    assert sorted(p.name for p in paths) == ["Test", "Train", "test.zip", "train.zip"]
    d = nmnist("test", tmp_path)
    assert d.labels.tolist() == [4] and events(d, 0) == ([3.0], [unit(1, 2, 1)])


def test_splits_save_and_load(shd_root, nmnist_root, tmp_path):
    for d in (shd("validation", shd_root), nmnist("test", nmnist_root)):
        path = d.save(tmp_path / "out" / f"{d.name}.h5")
        assert SpikeData.load(path) == d
