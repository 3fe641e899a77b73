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
