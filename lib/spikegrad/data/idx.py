r"""IDX files (the MNIST format) and latency-coded MNIST, Fashion-MNIST and EMNIST (balanced).

**IDX format** (LeCun et al., http://yann.lecun.com/exdb/mnist/). A file is a big-endian header followed by the
array in C order, big-endian:

- bytes 0–1: zero; byte 2: type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
  0x0E float64); byte 3: number of dimensions d; so the "magic number" is 0x0803 for image files and
  0x0801 for label files;
- d unsigned 32-bit big-endian sizes;
- the data: prod(sizes) items of that type.

:func:`read_idx` reads plain or gzip-compressed files (recognised by their first two bytes, not the name).

**Encoding** (EventProp's latency MNIST: Nowotny, Turner & Knight, arXiv 2212.01232, ``tnowotny/genn_eventprop``
``simulator_MNIST.py``). Pixel p of an image is input channel p (row-major, 28·28 = 784 channels). A pixel with
gray level g > 1 fires one spike at

.. math::

    t = \frac{255 - g}{255}\,(T - 4\Delta t) + 2\Delta t, \qquad T = 20 \text{ ms}, \ \Delta t = 1 \text{ ms},

so spikes lie in [2Δt, T − 2Δt] = [2, 18] ms (the brightest pixel, g = 255, at 2 ms); pixels with g ≤ 1
stay silent. The trial lasts T. This is :func:`~spikegrad.data.digits.latency_encode`'s code
t = (1 − g/255)·t_max with t_max = T − 4Δt, shifted by 2Δt, and with the silence threshold g > 1.

**EMNIST** (Cohen, Afshar, Tapson & van Schaik 2017, arXiv 1702.05373), the "balanced" split: handwritten
digits and letters, 47 classes (labels 0..46 = ``0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt``: the 15
letters whose capital and lower-case forms look alike are one class each, under the capital), 112,800 training
and 18,800 test images of 28×28. Its IDX files store every image transposed relative to MNIST; :func:`emnist`
transposes each image back on load (``image.T``), so channel = row-major pixel index of the upright image, as
for MNIST, and the same latency code applies.

**Splits** (as EventProp's validation runs): ``train`` = the first n − 5,000 images of the official training
file, ``validation`` = its last 5,000 (``n_validation``), ``test`` = the official test file. For MNIST and
Fashion-MNIST that is 55,000/5,000/10,000, for EMNIST balanced 107,800/5,000/18,800. With ``n_validation=0``
``train`` is the whole official training set (EventProp's final 60k/10k runs).

**Files**: ``root/mnist/`` and ``root/fashion-mnist/`` hold the four official gzip files
(``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``); ``root/emnist/`` holds the four balanced-split members of
NIST's archive ``gzip.zip`` (``emnist-balanced-{train,test}-{images-idx3,labels-idx1}-ubyte.gz``, stored in the
archive under ``gzip/``); an uncompressed copy without ``.gz`` is accepted too. :func:`download_idx` fetches the
MNIST and Fashion-MNIST files from the first mirror that answers and checks their SHA-256 (table :data:`FILES`);
for EMNIST it fetches ``gzip.zip`` (about 0.5 GB, all EMNIST splits), checks its MD5 (:data:`ARCHIVES`: no
SHA-256 and no per-file checksums are published), extracts only the four balanced files and deletes the
archive. ``meta["files"]`` records the SHA-256 of the files read; ``meta["official_files"]`` says whether they
are the ones in :data:`FILES` (True/False), or is None for EMNIST, which has no published per-file checksums.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .download import DatasetUnavailable, fetch, sha256_of, unavailable_message
from .spikedata import SPLITS, DataError, SpikeData

VERSION = 1  # bump when the encoding or the split rule changes

# IDX type code -> big-endian numpy dtype
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# Checksums of the official files: SHA-256 and sizes as recorded by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/{mnist,fashion_mnist}.txt); MD5 as recorded by torchvision
# (datasets/mnist.py, MNIST.resources and FashionMNIST.resources) and, for Fashion-MNIST, by the
# zalandoresearch/fashion-mnist README. Downloads are verified with SHA-256; the MD5 is kept for reference.
# file name -> (sha256, md5, bytes)
FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            9912422,
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
            28881,
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
            1648877,
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
            4542,
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            26421880,
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
            29515,
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
            4422102,
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
            5148,
        ),
    },
}

# EMNIST is published only as one zip archive of all its splits. NIST publishes no checksum of it (and none
# per file); the MD5 is the one recorded by torchvision (datasets/mnist.py, EMNIST.url and EMNIST.md5). No
# SHA-256 is recorded anywhere, so the archive is verified by MD5.
# name -> (archive file, MD5, folder of the IDX files inside the archive)
ARCHIVES = {"emnist": ("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e", "gzip/")}

# Mirrors tried in order (the file name, or for EMNIST the archive name, is appended). MNIST: the original site
# (which now often answers 403), then the copies torchvision and TensorFlow Datasets download from.
# Fashion-MNIST: the official S3 site (http only), then the files committed in the zalandoresearch/fashion-mnist
# repository. EMNIST: NIST's current address of the archive, then its older one.
MIRRORS = {
    "mnist": (
        "http://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "emnist": (
        "https://biometrics.nist.gov/cs_links/EMNIST/",
        "http://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
    ),
}

SOURCES = {
    "mnist": "MNIST (LeCun, Cortes & Burges 1998), official IDX files",
    "fashion-mnist": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv 1708.07747), official IDX files",
    "emnist": "EMNIST balanced (Cohen, Afshar, Tapson & van Schaik 2017, arXiv 1702.05373), official IDX files "
    "from NIST's gzip.zip, images transposed to upright",
}

LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "emnist": "EMNIST"}  # short names for messages

# File name prefixes of the (training file, test file); "-{images-idx3,labels-idx1}-ubyte.gz" follows.
PREFIXES = {
    "mnist": ("train", "t10k"),
    "fashion-mnist": ("train", "t10k"),
    "emnist": ("emnist-balanced-train", "emnist-balanced-test"),
}
TRANSPOSED = {"emnist"}  # datasets whose IDX files store each image transposed

CLASS_NAMES = {
    "mnist": [str(k) for k in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "emnist": list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"),
}  # fmt: skip
NAMES = tuple(CLASS_NAMES)  # the IDX datasets

N_VALIDATION = 5000  # last images of the official training file held out for validation


# ---------------------------------------------------------------------------------------------- IDX files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (plain or gzip), in native byte order, shaped by the header.

    Raises :class:`DataError` naming the file if it is missing, not gzip-decodable, has a bad magic number,
    or holds fewer or more data bytes than its header announces.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such IDX file")
    is_gzip = False
    try:
        with open(path, "rb") as f:
            is_gzip = f.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if is_gzip else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError; a cut stream an EOFError
        raise DataError(f"{path}: corrupt or truncated {'gzip ' if is_gzip else ''}file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] < 1:
        magic = raw[:4].hex() or "empty"
        raise DataError(
            f"{path}: not an IDX file (magic number 0x{magic}; expected 00 00, a type code in "
            f"{sorted(hex(c) for c in IDX_DTYPES)} and at least one dimension)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header} for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        kind = "truncated" if found < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX data {kind}: {found} bytes after the header, shape {dims} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------------------------- encoding


def latency_mnist_encode(
    images: np.ndarray,
    labels: np.ndarray,
    t_trial: float = 20.0,
    dt: float = 1.0,
    threshold: int = 1,
    name: str = "",
    meta: dict | None = None,
    n_classes: int = 10,
) -> SpikeData:
    """EventProp's latency code (module docstring) of 8-bit ``images`` [n, H, W] or [n, H·W].

    A pixel with gray level g > ``threshold`` fires once at t = (255 − g)/255·(T − 4Δt) + 2Δt with T =
    ``t_trial`` and Δt = ``dt`` (ms); the trial lasts T. Channel = row-major pixel index.
    """
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim not in (2, 3):
        raise ValueError(f"images must be [n, H, W] or [n, pixels], got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not (dt > 0 and t_trial > 4 * dt):
        raise ValueError(f"need dt > 0 and t_trial > 4*dt, got t_trial={t_trial}, dt={dt}")
    flat = images.reshape(len(images), -1)
    if flat.size and (flat.min() < 0 or flat.max() > 255):
        raise ValueError("gray levels must lie in [0, 255]")
    sample, pixel = np.nonzero(flat > threshold)
    g = flat[sample, pixel].astype(np.float64)
    times = (255.0 - g) / 255.0 * (t_trial - 4.0 * dt) + 2.0 * dt
    return SpikeData.from_events(
        sample, times, pixel, labels, flat.shape[1], n_classes, t_trial, name=name, meta=meta or {}
    )


# ---------------------------------------------------------------------------------------------- datasets


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown IDX dataset {name!r}; valid: {', '.join(NAMES)}")


def _split_files(name: str, split: str) -> tuple[str, str]:
    prefix = PREFIXES[name][split == "test"]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _all_files(name: str) -> list[str]:
    return [f for split in ("train", "test") for f in _split_files(name, split)]


def _find(name: str, root: Path, file: str) -> Path | None:
    """``root/<name>/<file>`` or its uncompressed twin, whichever exists first; None if neither does."""
    folder = root / name
    for candidate in (folder / file, folder / file.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _what(name: str, file: str) -> str:
    """How messages name ``file`` of ``name``: for EMNIST, also where it lies in the archive."""
    if name in ARCHIVES:
        archive, _md5, members = ARCHIVES[name]
        return f"{LABELS[name]} file {file} (member {members}{file} of the archive {archive})"
    return f"{LABELS[name]} file {file}"


def _source_urls(name: str, file: str, mirrors: tuple[str, ...]) -> list[str]:
    return [base + (ARCHIVES[name][0] if name in ARCHIVES else file) for base in mirrors]


def _locate(name: str, root: Path, file: str) -> Path:
    """``root/<name>/<file>``, or its uncompressed twin; DatasetUnavailable if neither exists."""
    if (path := _find(name, root, file)) is not None:
        return path
    urls = _source_urls(name, file, MIRRORS[name][:1])
    raise DatasetUnavailable(unavailable_message(_what(name, file), root / name / file, name, root, urls,
                                                 unpack=name in ARCHIVES))  # fmt: skip


def load_idx_dataset(
    name: str,
    split: str,
    root: str | os.PathLike,
    t_trial: float = 20.0,
    dt: float = 1.0,
    n_validation: int = N_VALIDATION,
) -> SpikeData:
    """Split ``split`` of ``name`` ("mnist", "fashion-mnist" or "emnist"), latency-coded (module docstring)."""
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown {name} split {split!r}; valid: {', '.join(SPLITS)}")
    root = Path(root)
    n_classes = len(CLASS_NAMES[name])
    image_file, label_file = _split_files(name, split)
    image_path, label_path = _locate(name, root, image_file), _locate(name, root, label_file)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{image_path}: expected uint8 images [n, H, W], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{label_path}: expected uint8 labels [n], got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{image_path}: {len(images)} images but {label_path.name} has {len(labels)} labels")
    if labels.size and labels.max() >= n_classes:
        raise DataError(f"{label_path}: label {labels.max()} outside 0..{n_classes - 1}")
    if name in TRANSPOSED:
        images = images.transpose(0, 2, 1)  # upright: stored pixel (row r, col c) -> (row c, col r)
    n = len(labels)
    if split == "test":
        start, stop = 0, n
    else:
        if not 0 <= n_validation < n:
            raise ValueError(f"n_validation must lie in [0, {n}) for {n} training images, got {n_validation}")
        start, stop = (0, n - n_validation) if split == "train" else (n - n_validation, n)
    digests = {p.name: sha256_of(p) for p in (image_path, label_path)}
    if name in FILES:
        official = bool(all(FILES[name].get(f, (None,))[0] == d for f, d in digests.items()))
    else:
        official = None  # no published per-file checksums (EMNIST: only the archive's MD5)
    meta = {
        "dataset": name,
        "version": VERSION,
        "split": split,
        "params": {"t_trial": float(t_trial), "dt": float(dt), "n_validation": int(n_validation)},
        "encoding": "one spike per pixel with g > 1 at t = (255 - g)/255*(t_trial - 4*dt) + 2*dt (EventProp)",
        "split_rule": "train: first n - n_validation images of the official training file; validation: its last "
        "n_validation; test: the official test file",
        "source": SOURCES[name],
        "files": digests,  # file name -> SHA-256 of the bytes read
        "official_files": official,  # None: no published checksums to compare with
        "source_range": [start, stop],  # image indices [start, stop) in the file
        "image_shape": list(images.shape[1:]),
        "class_names": CLASS_NAMES[name],
    }
    return latency_mnist_encode(images[start:stop], labels[start:stop], t_trial, dt, name=name, meta=meta,
                                n_classes=n_classes)  # fmt: skip


def mnist(
    split: str, root: str | os.PathLike, t_trial: float = 20.0, dt: float = 1.0, n_validation: int = N_VALIDATION
) -> SpikeData:
    """Latency MNIST split ``split`` from ``root/mnist/`` (module docstring); 784 channels, 10 classes, T ms."""
    return load_idx_dataset("mnist", split, root, t_trial, dt, n_validation)


def fashion_mnist(
    split: str, root: str | os.PathLike, t_trial: float = 20.0, dt: float = 1.0, n_validation: int = N_VALIDATION
) -> SpikeData:
    """Latency Fashion-MNIST split ``split`` from ``root/fashion-mnist/`` (module docstring)."""
    return load_idx_dataset("fashion-mnist", split, root, t_trial, dt, n_validation)


def emnist(
    split: str, root: str | os.PathLike, t_trial: float = 20.0, dt: float = 1.0, n_validation: int = N_VALIDATION
) -> SpikeData:
    """Latency EMNIST (balanced) split ``split`` from ``root/emnist/`` (module docstring); images transposed
    upright on load, so channel = row-major pixel index of the upright image; 784 channels, 47 classes, T ms."""
    return load_idx_dataset("emnist", split, root, t_trial, dt, n_validation)


def _fetch_first(
    name: str,
    root: Path,
    file: str,
    dest: Path,
    checksum: str,
    mirrors: tuple[str, ...],
    algorithm: str = "sha256",
    missing: str | None = None,
) -> Path:
    """Fetch ``file`` into ``dest`` from the first of ``mirrors`` that delivers bytes with the right checksum.

    Raises :class:`DataError` listing the mismatches if some mirror delivered wrong bytes and none the right
    ones, else :class:`DatasetUnavailable` with every mirror's reason; its message is about the dataset file
    ``missing`` (default ``file``) under ``root/<name>/``.
    """
    failures: list[DataError] = []
    what = f"{LABELS[name]} {'archive' if name in ARCHIVES else 'file'} {file}"
    for base in mirrors:
        try:
            return fetch(base + file, dest, checksum, what, name=name, root=root, algorithm=algorithm)
        except DataError as err:  # DatasetUnavailable included: try the next mirror
            failures.append(err)
    mismatches = [e for e in failures if not isinstance(e, DatasetUnavailable)]
    if mismatches:
        raise DataError("; ".join(str(e) for e in mismatches))
    reasons = "; ".join(f"{b}: {e.reason or e}" for b, e in zip(mirrors, failures, strict=True))
    missing = missing or file
    message = unavailable_message(_what(name, missing), root / name / missing, name, root, [b + file for b in mirrors],
                                  reasons, unpack=name in ARCHIVES)  # fmt: skip
    raise DatasetUnavailable(message, reasons or None)


def _extract(archive: Path, members: dict[str, Path]) -> None:
    """Write zip member ``m`` of ``archive`` to ``members[m]`` for each ``m``, each through a ``.part`` file
    renamed into place. Raises :class:`DataError` naming the archive if it is not a readable zip file or lacks a
    member (checked before anything is written)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            present = set(zf.namelist())
            absent = [m for m in members if m not in present]
            if absent:
                raise DataError(f"{archive}: the archive lacks {', '.join(absent)} ({len(present)} members found)")
            for member, dest in members.items():
                part = dest.with_name(dest.name + ".part")
                try:
                    with zf.open(member) as src, open(part, "wb") as out:
                        shutil.copyfileobj(src, out)
                    os.replace(part, dest)
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
    except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as err:  # CRC errors too
        raise DataError(f"{archive}: corrupt or unreadable zip archive ({err})") from None


def download_emnist(root: str | os.PathLike, mirrors: tuple[str, ...] | None = None) -> list[Path]:
    """Fetch NIST's EMNIST archive ``gzip.zip`` into ``root/emnist/.download/`` from the first mirror that
    delivers the right MD5, extract the four balanced-split files into ``root/emnist/`` (each written to a
    ``.part`` name, then renamed) and delete the archive. Files already there (or their uncompressed twins)
    are kept; if all four are, nothing is downloaded. Returns the four paths.

    Raises :class:`DatasetUnavailable` if no mirror can be reached, :class:`DataError` if a mirror delivered
    bytes with the wrong MD5 and none the right ones, or if the archive is not a readable zip file holding the
    four members. Nothing is left in ``root/emnist/.download/`` afterwards.
    """
    return _download_archive("emnist", root, mirrors)


def _download_archive(name: str, root: str | os.PathLike, mirrors: tuple[str, ...] | None) -> list[Path]:
    """:func:`download_emnist` for any dataset of :data:`ARCHIVES`."""
    root = Path(root)
    mirrors = MIRRORS[name] if mirrors is None else mirrors
    folder = root / name
    found = {file: _find(name, root, file) for file in _all_files(name)}
    missing = [file for file, path in found.items() if path is None]
    if missing:
        archive_file, md5, member_dir = ARCHIVES[name]
        staging = folder / ".download"
        try:
            archive = _fetch_first(name, root, archive_file, staging / archive_file, md5, mirrors, "md5", missing[0])
            _extract(archive, {member_dir + file: folder / file for file in missing})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return [found[file] or folder / file for file in found]


def download_idx(name: str, root: str | os.PathLike, mirrors: tuple[str, ...] | None = None) -> list[Path]:
    """Fetch the four files of ``name`` into ``root/<name>/``, each from the first mirror that delivers the
    right SHA-256; files already there and correct are kept. Returns their paths. For a dataset published as
    one archive (:data:`ARCHIVES`: EMNIST) this is :func:`download_emnist`'s MD5-checked archive, unpacked.

    Raises :class:`DatasetUnavailable` if no mirror can be reached, :class:`DataError` if a mirror delivered
    bytes with the wrong checksum and none delivered the right ones.
    """
    _check_name(name)
    if name in ARCHIVES:
        return _download_archive(name, root, mirrors)
    root = Path(root)
    mirrors = MIRRORS[name] if mirrors is None else mirrors
    return [_fetch_first(name, root, file, root / name / file, sha256, mirrors)
            for file, (sha256, _md5, _size) in FILES[name].items()]  # fmt: skip


__all__ = (
    "ARCHIVES", "FILES", "MIRRORS", "SPLITS", "download_emnist", "download_idx", "emnist", "fashion_mnist",
    "latency_mnist_encode", "load_idx_dataset", "mnist", "read_idx",
)  # fmt: skip
