import gzip
import hashlib
import re
import struct

import numpy as np
import pytest

from spikegrad.data import idx
from spikegrad.data.download import DatasetUnavailable
from spikegrad.data.idx import FILES, fashion_mnist, latency_mnist_encode, mnist, read_idx
from spikegrad.data.spikedata import DataError

CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B, np.dtype("int32"): 0x0C,
         np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}  # fmt: skip


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding written from the format description: 0, 0, type code, ndim, big-endian sizes, data."""
    header = bytes([0, 0, CODES[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, compress=True):
    data = idx_bytes(np.asarray(arr))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize(
    "arr",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([[-300, 2], [7, 32000]], dtype=np.int16),
        np.array([1.5, -2.25, 1e30], dtype=np.float32),
        np.array([-1, 2**31 - 1], dtype=np.int32),
    ],
)
def test_read_idx_roundtrip(tmp_path, arr, compress):
    out = read_idx(write_idx(tmp_path / "a.idx", arr, compress))
    assert out.shape == arr.shape and out.dtype == arr.dtype and out.dtype.isnative
    assert np.array_equal(out, arr)


def test_read_idx_header_bytes(tmp_path):
    # magic 0x00000801 (uint8 vector), 3 items -- written by hand, byte by byte
    path = tmp_path / "labels"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03\x07\x00\x09")
    assert read_idx(path).tolist() == [7, 0, 9]


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x12\x34\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "not an IDX file"),  # unknown type code
        (b"", "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x04\x01\x02", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "trailing bytes"),
    ],
)
def test_read_idx_bad_files(tmp_path, content, match):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.zeros((50, 28, 28), np.uint8) + 7)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_idx(path)
    with pytest.raises(DataError, match="no such IDX file"):
        read_idx(tmp_path / "missing.gz")


def test_latency_encode_golden():
    img = np.array([[0, 1, 2, 255, 128, 0]], dtype=np.uint8)
    d = latency_mnist_encode(img, [3], t_trial=20.0, dt=1.0)
    assert d.n_units == 6 and d.duration == 20.0 and d.labels.tolist() == [3]
    # t = (255 - g)/255 * 16 + 2: g = 255 -> 2, g = 128 -> 127/255*16 + 2, g = 2 -> 253/255*16 + 2; g <= 1 silent
    assert d.units.tolist() == [3, 4, 2]
    assert np.allclose(d.times, [2.0, 127 / 255 * 16 + 2, 253 / 255 * 16 + 2], rtol=0, atol=1e-6)
    # other T and dt: the spike window is [2dt, T - 2dt]
    d = latency_mnist_encode(img, [3], t_trial=30.0, dt=0.5)
    assert np.allclose(d.times, [1.0, 127 / 255 * 28 + 1, 253 / 255 * 28 + 1], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="t_trial > 4"):
        latency_mnist_encode(img, [3], t_trial=4.0, dt=1.0)


def make_images(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    images[rng.random(images.shape) < 0.7] = 0  # mostly background, like MNIST
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    return images, labels


@pytest.fixture
def root(tmp_path):
    data = {}
    for name, seed in (("mnist", 0), ("fashion-mnist", 1)):
        for prefix, n in (("train", 10), ("t10k", 4)):
            images, labels = make_images(n, seed * 10 + n)
            write_idx(tmp_path / name / f"{prefix}-images-idx3-ubyte.gz", images)
            write_idx(tmp_path / name / f"{prefix}-labels-idx1-ubyte.gz", labels)
            data[name, prefix] = images, labels
    return tmp_path, data


def expected_events(images):
    """Per image: (times, units) in time order, from the EventProp formula."""
    out = []
    for img in images.reshape(len(images), -1).astype(np.float64):
        units = np.flatnonzero(img > 1)
        times = (255 - img[units]) / 255 * 16 + 2
        order = np.argsort(times, kind="stable")
        out.append((times[order], units[order]))
    return out


@pytest.mark.parametrize("loader, name", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")])
def test_splits_and_events(root, loader, name):
    root, data = root
    splits = {s: loader(s, root, n_validation=3) for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [7, 3, 4]
    train_images, train_labels = data[name, "train"]
    sources = {
        "train": (train_images[:7], train_labels[:7]),
        "validation": (train_images[7:], train_labels[7:]),
        "test": data[name, "t10k"],
    }
    for split, d in splits.items():
        images, labels = sources[split]
        assert d.n_units == 784 and d.n_classes == 10 and d.duration == 20.0 and d.name == name
        assert d.labels.tolist() == labels.tolist()
        for k, (times, units) in enumerate(expected_events(images)):
            a, b = d.offsets[k], d.offsets[k + 1]
            assert d.units[a:b].tolist() == units.tolist()
            assert np.allclose(d.times[a:b], times, rtol=0, atol=1e-5)
        assert d.meta["split"] == split and d.meta["params"] == {"t_trial": 20.0, "dt": 1.0, "n_validation": 3}
        assert d.meta["official_files"] is False and d.meta["image_shape"] == [28, 28]
    assert splits["validation"].meta["source_range"] == [7, 10]
    digest = hashlib.sha256((root / name / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert splits["train"].meta["files"]["train-images-idx3-ubyte.gz"] == digest
    assert splits["test"].meta["source_range"] == [0, 4]


def test_whole_training_set_and_bad_n_validation(root):
    root, _ = root
    assert len(mnist("train", root, n_validation=0)) == 10
    with pytest.raises(ValueError, match="n_validation"):
        mnist("train", root)  # the default 5000 does not fit 10 images
    with pytest.raises(ValueError, match="unknown mnist split"):
        mnist("val", root)


def test_uncompressed_files_accepted(root):
    root, data = root
    folder = root / "mnist"
    for f in folder.glob("t10k-*.gz"):
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    assert mnist("test", root).labels.tolist() == data["mnist", "t10k"][1].tolist()


def test_missing_files_message(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        mnist("train", tmp_path)
    message = str(info.value)
    assert f"expected {tmp_path / 'mnist' / 'train-images-idx3-ubyte.gz'}" in message
    assert f"python -m spikegrad.data download mnist --root {tmp_path}" in message
    assert "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz" in message


def test_inconsistent_files(root):
    root, _ = root
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3], np.uint8))
    with pytest.raises(DataError, match="4 images but t10k-labels-idx1-ubyte.gz has 3 labels"):
        mnist("test", root)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3, 10], np.uint8))
    with pytest.raises(DataError, match="label 10 outside"):
        mnist("test", root)
    write_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((4, 784), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images \[n, H, W\]"):
        mnist("test", root)


def test_checksum_table():
    assert set(FILES) == {"mnist", "fashion-mnist"}
    for files in FILES.values():
        assert sorted(files) == sorted(
            f"{p}-{k}-ubyte.gz" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")
        )
        for sha256, md5, size in files.values():
            assert re.fullmatch("[0-9a-f]{64}", sha256) and re.fullmatch("[0-9a-f]{32}", md5) and size > 0
    assert FILES["mnist"]["train-images-idx3-ubyte.gz"][2] == 9912422


def test_download_idx_from_mirror(root, tmp_path, monkeypatch):
    mirror_root, _ = root
    mirror = mirror_root / "mnist"
    fake = {f: (hashlib.sha256((mirror / f).read_bytes()).hexdigest(), "", 1) for f in FILES["mnist"]}
    monkeypatch.setitem(idx.FILES, "mnist", fake)
    dest = tmp_path / "fresh"
    dead = "http://localhost:9/"  # refused: the next mirror is tried
    paths = idx.download_idx("mnist", dest, mirrors=(dead, mirror.as_uri() + "/"))
    assert sorted(p.name for p in paths) == sorted(fake)
    assert mnist("test", dest).meta["official_files"] is True  # they match the (patched) table
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(fake)  # nothing partial


def test_download_idx_failures(root, tmp_path):
    mirror_root, _ = root
    mirror = mirror_root / "mnist"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        idx.download_idx("mnist", tmp_path / "a", mirrors=(mirror.as_uri() + "/",))
    assert not isinstance(info.value, DatasetUnavailable)
    assert not any((tmp_path / "a" / "mnist").iterdir())
    with pytest.raises(DatasetUnavailable) as info:
        idx.download_idx("mnist", tmp_path / "b", mirrors=("http://localhost:9/", "http://localhost:9/x/"))
    message = str(info.value)
    assert "http://localhost:9/train-images-idx3-ubyte.gz or http://localhost:9/x/train-images" in message
    assert "python -m spikegrad.data download mnist --root" in message


# ---------------------------------------------------------------------------------------------- EMNIST

EMNIST_FILES = [f"emnist-balanced-{s}-{k}-ubyte.gz" for s in ("train", "test") for k in ("images-idx3", "labels-idx1")]
EMNIST_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"


def make_emnist(n, seed):
    images, _ = make_images(n, seed)
    labels = np.random.default_rng(seed + 100).integers(0, 47, size=n).astype(np.uint8)
    labels[0] = 46  # the highest class occurs
    return images, labels


@pytest.fixture
def emnist_root(tmp_path):
    """root/emnist/ with the four balanced-split files: 9 training and 3 test images as stored (transposed)."""
    data = {}
    for split, n in (("train", 9), ("test", 3)):
        images, labels = make_emnist(n, {"train": 5, "test": 6}[split])
        write_idx(tmp_path / "emnist" / f"emnist-balanced-{split}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / "emnist" / f"emnist-balanced-{split}-labels-idx1-ubyte.gz", labels)
        data[split] = images, labels
    return tmp_path, data


def test_emnist_splits_and_events(emnist_root):
    root, data = emnist_root
    splits = {s: idx.emnist(s, root, n_validation=2) for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [7, 2, 3]
    train_images, train_labels = data["train"]
    sources = {
        "train": (train_images[:7], train_labels[:7]),
        "validation": (train_images[7:], train_labels[7:]),
        "test": data["test"],
    }
    for split, d in splits.items():
        images, labels = sources[split]
        assert d.n_units == 784 and d.n_classes == 47 and d.duration == 20.0 and d.name == "emnist"
        assert d.labels.tolist() == labels.tolist()
        for k, (times, units) in enumerate(expected_events(images.transpose(0, 2, 1))):  # upright = stored.T
            a, b = d.offsets[k], d.offsets[k + 1]
            assert d.units[a:b].tolist() == units.tolist()
            assert np.allclose(d.times[a:b], times, rtol=0, atol=1e-5)
        assert d.meta["dataset"] == "emnist" and d.meta["split"] == split
        assert d.meta["params"] == {"t_trial": 20.0, "dt": 1.0, "n_validation": 2}
        assert d.meta["official_files"] is None and d.meta["image_shape"] == [28, 28]
        assert d.meta["class_names"] == list(EMNIST_CHARS) and len(d.meta["class_names"]) == 47
        assert set(d.meta) == set(mnist("test", root_with_mnist(root)).meta)
    assert splits["validation"].meta["source_range"] == [7, 9] and splits["test"].meta["source_range"] == [0, 3]
    digest = hashlib.sha256((root / "emnist" / "emnist-balanced-test-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
    assert splits["test"].meta["files"]["emnist-balanced-test-labels-idx1-ubyte.gz"] == digest
    assert len(idx.emnist("train", root, n_validation=0)) == 9
    with pytest.raises(ValueError, match="n_validation"):
        idx.emnist("train", root)  # the default 5000 does not fit 9 images


def root_with_mnist(root):
    """``root`` with a tiny MNIST test set beside EMNIST, to compare meta fields."""
    images, labels = make_images(2, 3)
    write_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz", images)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    return root


def test_emnist_transposed_on_load(tmp_path):
    # one asymmetric image: a few stored pixels (row r, col c), each with its own gray level 255 - (c*28 + r)//4
    stored = np.zeros((1, 28, 28), np.uint8)
    pixels = [(0, 5), (3, 1), (27, 0), (10, 20)]  # (r, c) in the stored array
    for r, c in pixels:
        stored[0, r, c] = 255 - (c * 28 + r) // 4
    for split in ("train", "test"):
        write_idx(tmp_path / "emnist" / f"emnist-balanced-{split}-images-idx3-ubyte.gz", stored)
        write_idx(tmp_path / "emnist" / f"emnist-balanced-{split}-labels-idx1-ubyte.gz", np.array([12], np.uint8))
    d = idx.emnist("test", tmp_path)
    assert sorted(d.units.tolist()) == sorted(c * 28 + r for r, c in pixels) == [27, 31, 140, 570]
    for unit, time in zip(d.units.tolist(), d.times.tolist(), strict=True):
        r, c = unit % 28, unit // 28  # channel c*28 + r holds stored pixel (r, c)
        assert np.isclose(time, (255 - stored[0, r, c]) / 255 * 16 + 2, rtol=0, atol=1e-5)
    assert d.labels.tolist() == [12] and d.meta["class_names"][12] == "C"
    # the same image read as MNIST (no transposition) puts the spikes at r*28 + c instead
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", stored)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.array([2], np.uint8))
    assert sorted(mnist("test", tmp_path).units.tolist()) == sorted(r * 28 + c for r, c in pixels)


def test_emnist_label_range(emnist_root):
    root, _ = emnist_root
    labels = root / "emnist" / "emnist-balanced-test-labels-idx1-ubyte.gz"
    write_idx(labels, np.array([0, 46, 20], np.uint8))
    assert idx.emnist("test", root).labels.tolist() == [0, 46, 20]  # 46 is valid for 47 classes
    write_idx(labels, np.array([0, 47, 20], np.uint8))
    with pytest.raises(DataError, match=r"label 47 outside 0\.\.46") as info:
        idx.emnist("test", root)
    assert str(labels) in str(info.value)


def test_mnist_label_range_is_ten_classes(root):
    root, _ = root
    write_idx(root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 11], np.uint8))
    with pytest.raises(DataError, match=r"label 11 outside 0\.\.9"):
        fashion_mnist("test", root)


def test_emnist_uncompressed_files_accepted(emnist_root):
    root, data = emnist_root
    for f in (root / "emnist").glob("emnist-balanced-test-*.gz"):
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    assert idx.emnist("test", root).labels.tolist() == data["test"][1].tolist()


def test_emnist_missing_files_message(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        idx.emnist("test", tmp_path)
    message = str(info.value)
    assert "EMNIST file emnist-balanced-test-images-idx3-ubyte.gz" in message
    assert "gzip/emnist-balanced-test-images-idx3-ubyte.gz" in message  # where it lies in the archive
    assert f"expected {tmp_path / 'emnist' / 'emnist-balanced-test-images-idx3-ubyte.gz'}" in message
    assert f"python -m spikegrad.data download emnist --root {tmp_path}" in message
    assert f"https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip and unpack it into {tmp_path / 'emnist'}" in message
    assert "\n" not in message


def emnist_zip(path, root, members=None, extra=True):
    """A tiny gzip.zip laid out like NIST's: the balanced files of ``root/emnist`` under ``gzip/``, plus a
    member of another split that must not be extracted. Returns its MD5."""
    import zipfile

    members = EMNIST_FILES if members is None else members
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in members:
            zf.writestr("gzip/" + f, (root / "emnist" / f).read_bytes())
        if extra:
            zf.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz", gzip.compress(b"other split"))
    return hashlib.md5(path.read_bytes()).hexdigest()


def patch_md5(monkeypatch, md5):
    archive, _md5, members = idx.ARCHIVES["emnist"]
    monkeypatch.setitem(idx.ARCHIVES, "emnist", (archive, md5, members))


def test_archive_table():
    assert idx.ARCHIVES["emnist"] == ("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e", "gzip/")
    assert idx.MIRRORS["emnist"][0] + "gzip.zip" == "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    assert "emnist" not in FILES  # no published per-file checksums


def test_download_emnist_from_mirror(emnist_root, tmp_path, monkeypatch):
    source, data = emnist_root
    mirror = tmp_path / "mirror"
    patch_md5(monkeypatch, emnist_zip(mirror / "gzip.zip", source))
    dest = tmp_path / "fresh"
    dead = "http://localhost:9/"  # refused: the next mirror is tried
    paths = idx.download_idx("emnist", dest, mirrors=(dead, mirror.as_uri() + "/"))
    assert paths == [dest / "emnist" / f for f in EMNIST_FILES]
    assert sorted(p.name for p in (dest / "emnist").iterdir()) == sorted(EMNIST_FILES)  # no archive, no .part
    for f in EMNIST_FILES:
        assert (dest / "emnist" / f).read_bytes() == (source / "emnist" / f).read_bytes()
    test = idx.emnist("test", dest)
    assert test.labels.tolist() == data["test"][1].tolist() and test.meta["official_files"] is None
    # all four present: kept, nothing fetched (the only mirror is dead)
    assert idx.download_emnist(dest, mirrors=(dead,)) == paths


def test_download_emnist_keeps_present_files(emnist_root, tmp_path, monkeypatch):
    source, _ = emnist_root
    mirror = tmp_path / "mirror"
    patch_md5(monkeypatch, emnist_zip(mirror / "gzip.zip", source))
    dest = tmp_path / "partial"
    kept = write_idx(dest / "emnist" / "emnist-balanced-test-labels-idx1-ubyte", np.array([1, 2, 3], np.uint8), False)
    paths = idx.download_emnist(dest, mirrors=(mirror.as_uri() + "/",))
    assert paths[3] == kept and kept.read_bytes() == idx_bytes(np.array([1, 2, 3], np.uint8))
    assert sorted(p.name for p in (dest / "emnist").iterdir()) == sorted([*EMNIST_FILES[:3], kept.name])


def test_download_emnist_md5_mismatch_leaves_nothing(emnist_root, tmp_path):
    source, _ = emnist_root
    mirror = tmp_path / "mirror"
    md5 = emnist_zip(mirror / "gzip.zip", source)  # the real expected MD5 stays in place
    dest = tmp_path / "a"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        idx.download_emnist(dest, mirrors=(mirror.as_uri() + "/",))
    assert not isinstance(info.value, DatasetUnavailable)
    message = str(info.value)
    assert f"MD5 {md5}, expected 58c8d27c78d21e728a6bc7b3cc06412e" in message and "gzip.zip" in message
    assert list((dest / "emnist").rglob("*")) == []


@pytest.mark.parametrize(
    "kind, match",
    [
        ("garbage", "corrupt or unreadable zip archive"),
        ("truncated", "corrupt or unreadable zip archive"),
        ("member missing", "lacks gzip/emnist-balanced-test-labels-idx1-ubyte.gz"),
        ("bad crc", "corrupt or unreadable zip archive"),
    ],
)
def test_download_emnist_corrupt_archive(emnist_root, tmp_path, monkeypatch, kind, match):
    source, _ = emnist_root
    archive = tmp_path / "mirror" / "gzip.zip"
    emnist_zip(archive, source, members=EMNIST_FILES[:3] if kind == "member missing" else None)
    raw = archive.read_bytes()
    if kind == "garbage":
        raw = b"PK\x03\x04 not really a zip file" * 10
    elif kind == "truncated":
        raw = raw[: len(raw) // 2]
    elif kind == "bad crc":  # flip one byte inside the (stored) last balanced member's data
        member = (source / "emnist" / EMNIST_FILES[3]).read_bytes()
        at = raw.index(member) + len(member) // 2
        raw = raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    archive.write_bytes(raw)
    patch_md5(monkeypatch, hashlib.md5(raw).hexdigest())
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=match) as info:
        idx.download_emnist(dest, mirrors=(archive.parent.as_uri() + "/",))
    assert not isinstance(info.value, DatasetUnavailable)
    assert str(dest / "emnist" / ".download" / "gzip.zip") in str(info.value)
    left = sorted(p.name for p in (dest / "emnist").rglob("*"))
    # complete members extracted before the corrupt one may stay; no archive, staging folder or .part does
    assert left == (sorted(EMNIST_FILES[:3]) if kind == "bad crc" else [])


def test_download_emnist_offline(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        idx.download_emnist(tmp_path, mirrors=("http://localhost:9/", "http://localhost:9/x/"))
    message = str(info.value)
    assert "http://localhost:9/gzip.zip or http://localhost:9/x/gzip.zip and unpack it" in message
    assert f"python -m spikegrad.data download emnist --root {tmp_path}" in message
    assert "download failed: http://localhost:9/: " in message and info.value.reason
    assert list((tmp_path / "emnist").rglob("*")) == []
