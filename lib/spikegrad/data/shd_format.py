"""The Spiking Heidelberg Datasets HDF5 format (Cramer et al. 2020, IEEE TNNLS, doi:10.1109/TNNLS.2020.3044364),
used by SHD, SSC and this package's synthetic spoken-word sets.

One file per split:

- ``spikes/times``: one variable-length array per sample, spike times in **seconds** (float16 in the published
  files, so resolution is about 0.5 ms near 0.5 s and 1 ms near 1 s);
- ``spikes/units``: one variable-length array per sample, channel ids 0..699 (uint16);
- ``labels``: class per sample (uint16);
- ``extra/keys``: the class names, indexed by label (byte strings);
- ``extra/speaker``: speaker id per sample (uint16).

:func:`read_shd` returns a :class:`SpikeData` in ms; :func:`write_shd` writes the same layout atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikegrad.atomic import atomic_write

from .spikedata import DataError, SpikeData

N_CHANNELS = 700  # cochlea channels of SHD/SSC


def write_shd(
    path: str | os.PathLike,
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    keys: list[str],
    speakers: np.ndarray,
    attrs: dict | None = None,
) -> Path:
    """Write one split: per-sample spike ``times`` (s) and ``units``, ``labels``, class names ``keys`` and
    ``speakers``, in the published layout (dtypes as in the module docstring). Optional root ``attrs``
    (strings or numbers) record provenance. Written atomically, so never half-written."""
    import h5py

    n = len(labels)
    if not (len(times) == len(units) == len(speakers) == n):
        raise ValueError(f"times, units, labels, speakers differ in length: {len(times)}, {len(units)}, {n}, "
                         f"{len(speakers)}")  # fmt: skip

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            t_ds = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            u_ds = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for k in range(n):
                t_ds[k] = np.asarray(times[k], dtype=np.float16)
                u_ds[k] = np.asarray(units[k], dtype=np.uint16)
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
            f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
            for key, value in (attrs or {}).items():
                f.attrs[key] = value

    path = atomic_write(Path(path), write)
    return path


def read_shd(path: str | os.PathLike, name: str, duration: float | None = None) -> SpikeData:
    """Read one SHD-format split as :class:`SpikeData` (times in ms, 700 units, classes from ``extra/keys``).

    ``duration`` (ms) defaults to the last spike time rounded up to a whole ms. ``meta`` records the file,
    the class names, and per-sample ``speaker`` ids. A missing, truncated or malformed file raises
    :class:`DataError` naming it.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            times = [np.asarray(t, dtype=np.float64) * 1e3 for t in f["spikes/times"][()]]
            units = [np.asarray(u, dtype=np.int64) for u in f["spikes/units"][()]]
            labels = np.asarray(f["labels"][()], dtype=np.int64)
            keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]]
            speakers = np.asarray(f["extra/speaker"][()], dtype=np.int64)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise DataError(f"{path}: not a readable SHD-format file ({err})") from None
    if not (len(times) == len(units) == len(labels) == len(speakers)):
        raise DataError(f"{path}: spikes/times, spikes/units, labels and extra/speaker differ in length")
    if any(len(t) != len(u) for t, u in zip(times, units, strict=True)):
        raise DataError(f"{path}: a sample has different numbers of spike times and units")
    sample = np.repeat(np.arange(len(labels)), [len(t) for t in times])
    flat_times = np.concatenate(times) if times else np.zeros(0)
    flat_units = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
    if duration is None:
        duration = float(np.ceil(flat_times.max())) + 1.0 if flat_times.size else 1.0
    n_classes = max(len(keys), int(labels.max()) + 1 if labels.size else 1)
    try:
        return SpikeData.from_events(
            sample, flat_times, flat_units, labels, n_units=N_CHANNELS, n_classes=n_classes, duration=duration,
            name=name, meta={"file": path.name, "keys": keys, "speaker": speakers.tolist()},
        )  # fmt: skip
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None
