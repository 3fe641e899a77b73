"""Published spiking datasets read from their original files: SHD, SSC, N-MNIST (and latency MNIST,
Fashion-MNIST and EMNIST balanced from :mod:`~spikegrad.data.idx`), every split as :class:`SpikeData` with times
in ms.

**Layout under** ``root`` (the one tonic uses, so ``tonic.datasets.SHD(save_to=root)`` finds the same files):

- ``root/SHD/shd_{train,test}.h5`` and ``root/SSC/ssc_{train,valid,test}.h5`` (Cramer et al. 2020, the HDF5
  layout read by :func:`~spikegrad.data.shd_format.read_shd`), with tonic's archives ``*.h5.zip`` beside them;
- ``root/NMNIST/{Train,Test}/<digit>/<number>.bin`` (Orchard et al. 2015, Front. Neurosci. 9:437);
- ``root/mnist/``, ``root/fashion-mnist/`` and ``root/emnist/``: the official IDX files (for EMNIST the four
  balanced-split files of NIST's ``gzip.zip``; :mod:`~spikegrad.data.idx`).

:func:`download` fetches a dataset into that layout (SHD, SSC and N-MNIST through tonic's dataset classes,
which download and check the archives' MD5 and extract them; MNIST and Fashion-MNIST through
:func:`~spikegrad.data.download.fetch` with SHA-256; EMNIST's archive through the same function with MD5, then
unpacked from ``root/emnist/.download/``). Tonic downloads into ``root/.<Folder>.download/`` and
the finished files are then moved into place, so an interrupted download never leaves a file that looks
complete. Loaders never download: a missing file raises
:class:`~spikegrad.data.download.DatasetUnavailable` with one message saying what is missing, where, and
how to get it; a corrupt or truncated file raises :class:`DataError` naming it.

**Trials.** SHD and SSC trials are cut to ``duration`` = 1000 ms (events at t >= duration are dropped),
as EventProp's final SHD and SSC runs do (``CropTime(max=1e6 µs)`` in ``tnowotny/genn_eventprop``,
``simulator_SHD.py``; its earlier loss comparison used 1400 ms, pass ``duration=1400.0`` for that).
N-MNIST trials are 316 ms: three saccades of about 105 ms each (the boundaries tonic's ``stabilize`` uses);
``duration=100.0`` keeps only the first saccade, like tonic's ``first_saccade_only``. ``meta["events_dropped"]``
counts what a crop removed.

**Validation splits** (all deterministic, recorded in ``meta["split_rule"]``):

- SHD has no official validation set. ``holdout="speaker"`` (default) holds out every training-file sample of
  one speaker, ``val_speaker`` (default: the lowest speaker id in the training file): a speaker never seen in
  training, like the two test-only speakers of the test set and like one fold of EventProp's
  leave-one-speaker-out model selection. ``holdout="eventprop"`` reproduces the size of EventProp's
  "random" split (7644 train + 512 validation): the indices 0..n−1 shuffled by
  ``numpy.random.default_rng(123).shuffle`` (its ``TRAIN_DATA_SEED``), the last 512 validating; whether these
  are the very samples EventProp used depends on no other draw preceding its shuffle, which we have not
  verified. ``holdout="none"``: ``train`` is the whole training file (EventProp's final train/test runs) and
  ``validation`` is an error.
- SSC: the official ``ssc_valid.h5``.
- N-MNIST: the ``n_validation`` = 5000 training samples with the highest file numbers. N-MNIST files are
  numbered by the MNIST image they were recorded from, so this holds out the same images as the MNIST
  validation split (the last 5000 of the MNIST training set); ``n_validation=0`` trains on all.

**N-MNIST events.** Each event is 5 bytes: x (byte 0), y (byte 1), then bit 7 of byte 2 = polarity and bits
22–16 of the timestamp in bits 6–0, then timestamp bits 15–8 (byte 3) and 7–0 (byte 4); timestamps in µs. An
event with y == 240 is a timestamp-overflow marker: it is dropped and 2^13 µs is added to its own and every
later timestamp (the rule of tonic's ``read_mnist_file`` and of Orchard's ``eventvision.py``, kept so both
readers agree; the 34×34 recordings should not contain such markers). Channel = p·34·34 + y·34 + x
(2·34·34 = 2312 channels; p = 1 for ON events), the C-order flattening of tonic's ``ToFrame`` frame
``[p, y, x]``. Samples are ordered like tonic's ``NMNIST``: digit folders 0..9, files sorted by name.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .download import DatasetUnavailable, unavailable_message
from .idx import download_emnist, download_idx, emnist, fashion_mnist, mnist
from .shd_format import read_shd
from .spikedata import SPLITS, DataError, SpikeData

VERSION = 1  # bump when a loader's output for the same files changes

SHD_DURATION = 1000.0  # ms
NMNIST_DURATION = 316.0  # ms
NMNIST_SIDE = 34
NMNIST_UNITS = 2 * NMNIST_SIDE * NMNIST_SIDE  # 2312
NMNIST_N_VALIDATION = 5000
EVENTPROP_N_VALIDATION = 512
EVENTPROP_SEED = 123
OVERFLOW_Y = 240
OVERFLOW_US = 2**13

# Archives as tonic 1.7.0 downloads them (tonic/datasets/hsd.py, nmnist.py): base URL, archive, MD5.
ZENKE_URL = "https://zenkelab.org/datasets/"
MENDELEY_URL = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
ARCHIVES = {
    ("shd", "train"): (ZENKE_URL + "shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
    ("shd", "test"): (ZENKE_URL + "shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f"),
    ("ssc", "train"): (ZENKE_URL + "ssc_train.h5.zip", "d102be95e7144fcc0553d1f45ba94170"),
    ("ssc", "valid"): (ZENKE_URL + "ssc_valid.h5.zip", "b4eee3516a4a90dd0c71a6ac23a8ae43"),
    ("ssc", "test"): (ZENKE_URL + "ssc_test.h5.zip", "a35ff1e9cffdd02a20eb850c17c37748"),
    ("nmnist", "train"): (
        MENDELEY_URL + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
        "20959b8e626244a1b502305a9e6e2031",
    ),
    ("nmnist", "test"): (
        MENDELEY_URL + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
        "69ca8762b2fe404d9b9bad1103e97832",
    ),
}
FOLDERS = {"shd": "SHD", "ssc": "SSC", "nmnist": "NMNIST"}
SOURCES = {
    "shd": "Spiking Heidelberg Digits (Cramer et al. 2020, doi:10.1109/TNNLS.2020.3044364), zenkelab.org",
    "ssc": "Spiking Speech Commands (Cramer et al. 2020, doi:10.1109/TNNLS.2020.3044364), zenkelab.org",
    "nmnist": "N-MNIST (Orchard et al. 2015, doi:10.3389/fnins.2015.00437), Mendeley Data 468j46mzdv",
}
_NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError)


def _check_split(name: str, split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown {name} split {split!r}; valid: {', '.join(SPLITS)}")


def _require(name: str, path: Path, root: Path, what: str, urls: list[str]) -> None:
    if not path.exists():
        folder = root / FOLDERS[name]
        raise DatasetUnavailable(unavailable_message(what, path, name, root, urls, folder=folder, unpack=True))


def crop(data: SpikeData, duration: float) -> tuple[SpikeData, int]:
    """``data`` with every event at t >= ``duration`` dropped and the trial length set to ``duration``; also the
    number of events dropped."""
    keep = data.times < duration
    kept = np.zeros(len(data.times) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    offsets = kept[data.offsets]
    out = SpikeData(data.times[keep], data.units[keep], offsets, data.labels, data.n_units, data.n_classes,
                    duration, data.name, data.meta)  # fmt: skip
    return out, int(len(keep) - keep.sum())


# ---------------------------------------------------------------------------------------------- SHD / SSC


def _read_h5(name: str, file_split: str, root: Path, duration: float) -> tuple[SpikeData, dict]:
    folder = FOLDERS[name]
    path = root / folder / f"{name}_{file_split}.h5"
    url, md5 = ARCHIVES[(name, file_split)]
    _require(name, path, root, f"{folder} {file_split} file {path.name}", [url])
    data = read_shd(path, name)
    data, dropped = crop(data, duration)
    meta = {
        "dataset": name,
        "version": VERSION,
        "source": SOURCES[name],
        "file": path.name,
        "file_bytes": path.stat().st_size,
        "archive": {"url": url, "md5": md5},
        "keys": data.meta["keys"],
        "events_dropped": dropped,
    }
    return data, meta


def _with_samples(data: SpikeData, idx: np.ndarray, meta: dict) -> SpikeData:
    """Samples ``idx`` of a file as read by :func:`read_shd`, with ``meta`` plus their ids and speakers."""
    speakers = np.asarray(data.meta["speaker"], dtype=np.int64)
    sub = data.subset(idx)
    meta = dict(meta, sample_ids=idx.tolist(), speaker=speakers[idx].tolist())
    return SpikeData(sub.times, sub.units, sub.offsets, sub.labels, sub.n_units, sub.n_classes, sub.duration,
                     sub.name, meta)  # fmt: skip


def shd_split_indices(
    speakers: np.ndarray, holdout: str = "speaker", val_speaker: int | None = None
) -> tuple[dict[str, np.ndarray], str, int | None]:
    """Train and validation sample indices (sorted) into the SHD training file, the rule in words, and the
    held-out speaker (module docstring). ``speakers`` is the file's ``extra/speaker``."""
    speakers = np.asarray(speakers, dtype=np.int64)
    n = len(speakers)
    if holdout == "speaker":
        present = np.unique(speakers)
        if val_speaker is None:
            if not len(present):
                raise ValueError("the SHD training file holds no samples")
            val_speaker = int(present[0])
        elif val_speaker not in present:
            raise ValueError(f"val_speaker {val_speaker} is not in the training file; speakers: {present.tolist()}")
        is_val = speakers == val_speaker
        if is_val.all():
            raise ValueError(f"holding out speaker {val_speaker} leaves no training samples")
        rule = f"validation: all training-file samples of speaker {val_speaker}; train: all other speakers"
        return {"train": np.flatnonzero(~is_val), "validation": np.flatnonzero(is_val)}, rule, val_speaker
    if holdout == "eventprop":
        if n <= EVENTPROP_N_VALIDATION:
            raise ValueError(f"holdout='eventprop' needs more than {EVENTPROP_N_VALIDATION} samples, got {n}")
        order = np.arange(n)
        np.random.default_rng(EVENTPROP_SEED).shuffle(order)
        rule = (f"indices shuffled by numpy.random.default_rng({EVENTPROP_SEED}).shuffle; the last "
                f"{EVENTPROP_N_VALIDATION} validate (EventProp's N_TRAIN/N_VALIDATE split)")  # fmt: skip
        cut = n - EVENTPROP_N_VALIDATION
        return {"train": np.sort(order[:cut]), "validation": np.sort(order[cut:])}, rule, None
    if holdout == "none":
        return {"train": np.arange(n)}, "train: the whole training file; no validation split", None
    raise ValueError(f"unknown holdout {holdout!r}; valid: speaker, eventprop, none")


def shd(
    split: str,
    root: str | os.PathLike,
    duration: float = SHD_DURATION,
    holdout: str = "speaker",
    val_speaker: int | None = None,
) -> SpikeData:
    """SHD split ``split`` from ``root/SHD/``: 700 channels, 20 classes, trials of ``duration`` ms; train and
    validation both come from ``shd_train.h5`` by the ``holdout`` rule (module docstring)."""
    _check_split("shd", split)
    root = Path(root)
    params = {"duration": float(duration), "holdout": holdout, "val_speaker": val_speaker}
    if split == "test":
        data, meta = _read_h5("shd", "test", root, duration)
        idx, rule = np.arange(len(data)), "test: the whole official test file"
    else:
        data, meta = _read_h5("shd", "train", root, duration)
        indices, rule, speaker = shd_split_indices(data.meta["speaker"], holdout, val_speaker)
        if split not in indices:
            raise ValueError("holdout='none' has no validation split; use holdout='speaker' or 'eventprop'")
        idx = indices[split]
        meta["val_speaker"] = speaker
    meta.update(split=split, params=params, split_rule=rule)
    return _with_samples(data, idx, meta)


def ssc(split: str, root: str | os.PathLike, duration: float = SHD_DURATION) -> SpikeData:
    """SSC split ``split`` from ``root/SSC/`` (official train/valid/test files): 700 channels, 35 classes,
    trials of ``duration`` ms."""
    _check_split("ssc", split)
    file_split = {"train": "train", "validation": "valid", "test": "test"}[split]
    data, meta = _read_h5("ssc", file_split, Path(root), duration)
    meta.update(split=split, params={"duration": float(duration)}, split_rule=f"the official {file_split} file")
    return _with_samples(data, np.arange(len(data)), meta)


# ---------------------------------------------------------------------------------------------- N-MNIST


def read_nmnist_bin(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events ``(x, y, t, p)`` (int64; t in µs) of one N-MNIST ``.bin`` file (module docstring), overflow
    markers removed. A file that is not a whole number of 5-byte events or holds a coordinate outside 0..33
    raises :class:`DataError` naming it."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DataError(f"{path}: unreadable N-MNIST file ({err})") from None
    if raw.size % 5:
        raise DataError(f"{path}: truncated N-MNIST file ({raw.size} bytes is not a multiple of 5-byte events)")
    ev = raw.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    overflow = y == OVERFLOW_Y
    if overflow.any():
        t = t + OVERFLOW_US * np.cumsum(overflow)
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    bad = (x >= NMNIST_SIDE) | (y >= NMNIST_SIDE)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: event {k} at (x, y) = ({x[k]}, {y[k]}) outside the 34x34 sensor")
    return x, y, t, p


def _nmnist_files(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The ``.bin`` files under ``folder/<digit>/`` in tonic's order, their labels and file numbers."""
    files, labels, numbers = [], [], []
    for digit in range(10):
        for path in sorted((folder / str(digit)).glob("*.bin")):
            if not path.stem.isdigit():
                raise DataError(f"{path}: N-MNIST file names must be sample numbers")
            files.append(path)
            labels.append(digit)
            numbers.append(int(path.stem))
    return files, np.asarray(labels, dtype=np.int64), np.asarray(numbers, dtype=np.int64)


def nmnist(
    split: str,
    root: str | os.PathLike,
    duration: float = NMNIST_DURATION,
    n_validation: int = NMNIST_N_VALIDATION,
) -> SpikeData:
    """N-MNIST split ``split`` from ``root/NMNIST/``: 2312 channels, 10 classes, trials of ``duration`` ms
    (module docstring)."""
    _check_split("nmnist", split)
    root = Path(root)
    sub = "Test" if split == "test" else "Train"
    folder = root / "NMNIST" / sub
    url = ARCHIVES[("nmnist", "test" if split == "test" else "train")][0]
    what = f"N-MNIST {sub} folder ({sub}/<digit>/*.bin, from {sub.lower()}.zip)"
    _require("nmnist", folder, root, what, [url])
    files, labels, numbers = _nmnist_files(folder)
    if not files:
        message = unavailable_message(what, folder / "0", "nmnist", root, [url], folder=root / "NMNIST", unpack=True)
        raise DatasetUnavailable(message)
    if split == "test":
        idx, rule = np.arange(len(files)), "test: every file of the official Test folder"
    else:
        if not 0 <= n_validation < len(files):
            raise ValueError(f"n_validation must lie in [0, {len(files)}) for {len(files)} files, got {n_validation}")
        by_number = np.lexsort((labels, numbers))  # ascending file number, ties by digit
        is_val = np.zeros(len(files), dtype=bool)
        is_val[by_number[len(files) - n_validation :]] = True
        idx = np.flatnonzero(is_val if split == "validation" else ~is_val)
        rule = (f"validation: the {n_validation} Train files with the highest numbers (the last MNIST training "
                "images); train: the other Train files")  # fmt: skip
    # Filled in place: the file sizes bound the number of events, so peak memory stays near the result's.
    capacity = sum(files[i].stat().st_size // 5 for i in idx)
    times = np.empty(capacity, dtype=np.float32)
    units = np.empty(capacity, dtype=np.int32)
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    dropped = 0
    for k, i in enumerate(idx):
        x, y, t, p = read_nmnist_bin(files[i])
        t_ms = t / 1000.0
        keep = t_ms < duration
        dropped += int(len(keep) - keep.sum())
        order = np.argsort(t_ms[keep], kind="stable")
        a, b = offsets[k], offsets[k] + len(order)
        times[a:b] = t_ms[keep][order]
        units[a:b] = ((p * NMNIST_SIDE + y) * NMNIST_SIDE + x)[keep][order]
        offsets[k + 1] = b
    meta = {
        "dataset": "nmnist",
        "version": VERSION,
        "source": SOURCES["nmnist"],
        "split": split,
        "params": {"duration": float(duration), "n_validation": int(n_validation)},
        "split_rule": rule,
        "folder": f"NMNIST/{sub}",
        "archive": dict(zip(("url", "md5"), ARCHIVES[("nmnist", sub.lower())], strict=True)),
        "sample_ids": numbers[idx].tolist(),  # file numbers (= MNIST image numbers)
        "events_dropped": dropped,
        "channel": "p*34*34 + y*34 + x, p = 1 for ON",
    }
    n_events = offsets[-1]
    return SpikeData(times[:n_events], units[:n_events], offsets, labels[idx], NMNIST_UNITS, 10, duration, "nmnist",
                     meta)  # fmt: skip


# ---------------------------------------------------------------------------------------------- downloads


def _tonic_download(name: str, root: Path, splits: dict[str, Callable], targets: dict[str, list[str]]) -> list[Path]:
    """Run tonic's downloader ``splits[s](save_to)`` for each split whose ``targets`` (paths relative to
    ``root/<Folder>``) are not all present, in ``root/.<Folder>.download``, then move the targets into place."""
    folder = FOLDERS[name]
    final = root / folder
    staging = root / f".{folder}.download"
    done = []
    for split, make in splits.items():
        wanted = targets[split]
        if all((final / rel).exists() for rel in wanted):
            done += [final / rel for rel in wanted]
            continue
        url = ARCHIVES[(name, split)][0]
        what = f"{folder} {split} data ({', '.join(wanted)})"
        shutil.rmtree(staging, ignore_errors=True)  # no leftovers of an interrupted run
        try:
            make(str(staging))
        except _NETWORK_ERRORS as err:
            reason = str(getattr(err, "reason", err))
            message = unavailable_message(what, final / wanted[0], name, root, [url], reason, folder=final, unpack=True)
            raise DatasetUnavailable(message, reason) from err
        except RuntimeError as err:  # tonic: "File not found or corrupted." after an MD5 mismatch
            raise DataError(f"{staging / folder}: download of {url} failed its MD5 check ({err})") from err
        final.mkdir(parents=True, exist_ok=True)
        for rel in wanted:
            src = staging / folder / rel
            if not src.exists():
                raise DataError(f"{src}: the {folder} {split} archive did not contain {rel}")
            if (final / rel).is_dir():
                shutil.rmtree(final / rel)
            os.replace(src, final / rel)
            done.append(final / rel)
        shutil.rmtree(staging, ignore_errors=True)
    return done


def download_shd(root: str | os.PathLike) -> list[Path]:
    """Download SHD into ``root/SHD/`` through ``tonic.datasets.SHD``; return the files."""
    from tonic.datasets import SHD

    splits = {"train": lambda s: SHD(save_to=s, train=True), "test": lambda s: SHD(save_to=s, train=False)}
    targets = {s: [f"shd_{s}.h5", f"shd_{s}.h5.zip"] for s in splits}
    return _tonic_download("shd", Path(root), splits, targets)


def download_ssc(root: str | os.PathLike) -> list[Path]:
    """Download SSC into ``root/SSC/`` through ``tonic.datasets.SSC``; return the files."""
    from tonic.datasets import SSC

    splits = {s: (lambda save_to, s=s: SSC(save_to=save_to, split=s)) for s in ("train", "valid", "test")}
    targets = {s: [f"ssc_{s}.h5", f"ssc_{s}.h5.zip"] for s in splits}
    return _tonic_download("ssc", Path(root), splits, targets)


def download_nmnist(root: str | os.PathLike) -> list[Path]:
    """Download N-MNIST into ``root/NMNIST/`` through ``tonic.datasets.NMNIST``; return the folders/archives."""
    from tonic.datasets import NMNIST

    splits = {"train": lambda s: NMNIST(save_to=s, train=True), "test": lambda s: NMNIST(save_to=s, train=False)}
    targets = {"train": ["Train", "train.zip"], "test": ["Test", "test.zip"]}
    return _tonic_download("nmnist", Path(root), splits, targets)


# name -> loader(split, root, **kwargs) -> SpikeData
PUBLISHED: dict[str, Callable[..., SpikeData]] = {
    "shd": shd,
    "ssc": ssc,
    "nmnist": nmnist,
    "mnist": mnist,
    "fashion-mnist": fashion_mnist,
    "emnist": emnist,
}

# name -> downloader(root) -> list of paths
DOWNLOADERS: dict[str, Callable[[str | os.PathLike], list[Path]]] = {
    "shd": download_shd,
    "ssc": download_ssc,
    "nmnist": download_nmnist,
    "mnist": lambda root: download_idx("mnist", root),
    "fashion-mnist": lambda root: download_idx("fashion-mnist", root),
    "emnist": download_emnist,
}


def download(name: str, root: str | os.PathLike) -> list[Path]:
    """Download published dataset ``name`` into its folder under ``root``; return the files written or found."""
    if name not in DOWNLOADERS:
        raise ValueError(f"unknown published dataset {name!r}; valid: {', '.join(sorted(DOWNLOADERS))}")
    return DOWNLOADERS[name](root)


__all__ = (
    "DOWNLOADERS", "PUBLISHED", "SPLITS", "crop", "download", "download_nmnist", "download_shd", "download_ssc",
    "nmnist", "read_nmnist_bin", "shd", "shd_split_indices", "ssc",
)  # fmt: skip
