"""Ragged spike data: the one container every dataset in ``spikegrad.data`` returns.

A :class:`SpikeData` holds ``n`` labelled samples (trials) of length ``duration`` ms over ``n_units`` input
channels as three flat event arrays (CSR layout): sample ``k`` owns the events ``offsets[k]:offsets[k + 1]``
of ``times`` (ms, sorted within the sample) and ``units`` (channel index). Engines get tensors from it:

- :meth:`SpikeData.to_dense` — binary spike rasters ``[T, B, n_units]`` on a grid of step Δt
  (discrete-time engines: BPTT, sparse SG, EventProp on a grid);
- :meth:`SpikeData.to_padded` — per-channel spike-time lists ``[B, n_units, K]`` padded with +inf and their
  counts (event-based engines: exact simulators, spike-time backprop, forward propagation).

Files are HDF5 (:meth:`SpikeData.save` / :meth:`SpikeData.load`), written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spikegrad.atomic import atomic_write

SPLITS = ("train", "validation", "test")  # every dataset's splits, in this order

FORMAT = "spikegrad.SpikeData"
FORMAT_VERSION = 1

# Relative tolerance of the binning: t / Δt is rounded up to the next integer k when it lies within
# _EDGE_TOL·max(1, k) below it. This absorbs the float32 rounding of times meant to lie on the grid
# (float32(0.7) = 0.69999999 ms is step 7 at Δt = 0.1 ms) and shifts no real event by more than ~1e-6 steps.
_EDGE_TOL = 1e-6


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent. The message names the file."""


def _n_steps(duration: float, dt: float) -> int:
    """ceil(duration / dt), robust to float round-off (30 / 0.1 -> 300, 1.1 / 0.1 -> 11)."""
    q = duration / dt
    r = round(q)
    if abs(q - r) <= _EDGE_TOL * max(1.0, abs(r)):
        return int(r)
    return math.ceil(q)


def time_bins(times: np.ndarray, dt: float) -> np.ndarray:
    """Grid step index floor(t / Δt) of each time (int64), with the edge tolerance described above."""
    q = np.asarray(times, dtype=np.float64) / dt
    return np.floor(q + _EDGE_TOL * np.maximum(1.0, np.abs(q))).astype(np.int64)


def json_default(obj):
    """``json.dumps`` fallback for numpy scalars and arrays and paths (meta and transform parameters)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"value of type {type(obj).__name__} is not JSON-serialisable")


@dataclass(frozen=True, eq=False)
class SpikeData:
    """Labelled spike trains of ``n`` samples in CSR layout (see the module docstring).

    Construct directly from CSR arrays, or with :meth:`from_events` from unsorted (sample, time, unit)
    triples. Arrays are converted to the documented dtypes; inconsistent input raises ``ValueError``. ``meta``
    must be JSON-serialisable (use lists, not tuples, so that a saved and loaded copy compares equal).
    """

    times: np.ndarray  # float32 [E], ms, sorted by time within each sample
    units: np.ndarray  # int32 [E], channel index in [0, n_units)
    offsets: np.ndarray  # int64 [n + 1]; sample k's events are [offsets[k], offsets[k + 1])
    labels: np.ndarray  # int64 [n], class index in [0, n_classes)
    n_units: int
    n_classes: int
    duration: float  # trial length, ms
    name: str = ""
    meta: dict = field(default_factory=dict)  # encoding parameters, generator seed, dataset version, ...

    def __post_init__(self):
        def set_(name, value):
            object.__setattr__(self, name, value)

        set_("times", _as_array("times", self.times, np.float32, kind="f"))
        set_("units", _as_array("units", self.units, np.int32, kind="i"))
        set_("offsets", _as_array("offsets", self.offsets, np.int64, kind="i"))
        set_("labels", _as_array("labels", self.labels, np.int64, kind="i"))
        set_("n_units", int(self.n_units))
        set_("n_classes", int(self.n_classes))
        set_("duration", float(self.duration))
        set_("name", str(self.name))
        set_("meta", dict(self.meta))
        self._validate()

    def _validate(self) -> None:
        times, units, offsets, labels = self.times, self.units, self.offsets, self.labels
        n, n_events = len(labels), len(times)
        if self.n_units < 1 or self.n_classes < 1:
            raise ValueError(f"n_units and n_classes must be >= 1, got {self.n_units} and {self.n_classes}")
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"duration must be a positive number of ms, got {self.duration}")
        if len(units) != n_events:
            raise ValueError(f"times and units differ in length: {n_events} != {len(units)}")
        if len(offsets) != n + 1:
            raise ValueError(f"offsets must have n + 1 = {n + 1} entries ({n} labels), got {len(offsets)}")
        if offsets[0] != 0 or offsets[-1] != n_events:
            raise ValueError(
                f"offsets must start at 0 and end at the number of events {n_events}, "
                f"got {offsets[0]} ... {offsets[-1]}"
            )
        if n and np.any(np.diff(offsets) < 0):
            k = int(np.flatnonzero(np.diff(offsets) < 0)[0])
            raise ValueError(f"offsets not monotone: offsets[{k}] = {offsets[k]} > offsets[{k + 1}]")
        if n_events:
            if np.any(units < 0) or np.any(units >= self.n_units):
                raise ValueError(f"units out of range [0, {self.n_units}): min {units.min()}, max {units.max()}")
            if np.isnan(times).any():
                raise ValueError("times contain NaN")
            if np.any(times < 0):
                raise ValueError(f"negative spike time {times.min()} ms")
            back = np.flatnonzero(np.diff(times) < 0) + 1  # events earlier than their predecessor ...
            starts = np.zeros(n_events, dtype=bool)
            starts[offsets[:-1][offsets[:-1] < n_events]] = True
            bad = back[~starts[back]]  # ... that do not open a new sample
            if len(bad):
                k = int(np.searchsorted(offsets, bad[0], side="right") - 1)
                raise ValueError(f"times not sorted within sample {k} (event {bad[0]})")
        if n and (np.any(labels < 0) or np.any(labels >= self.n_classes)):
            raise ValueError(f"labels out of range [0, {self.n_classes}): min {labels.min()}, max {labels.max()}")

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_events(
        cls,
        sample: np.ndarray,
        times: np.ndarray,
        units: np.ndarray,
        labels: np.ndarray,
        n_units: int,
        n_classes: int,
        duration: float,
        name: str = "",
        meta: dict | None = None,
    ) -> SpikeData:
        """Build from flat, unordered events: event ``e`` is a spike of channel ``units[e]`` at ``times[e]``
        in sample ``sample[e]``. Events are stably sorted by (sample, time): equal times keep their input
        order. Input that is already in that order is not re-sorted."""
        sample = np.asarray(sample, dtype=np.int64)
        times = np.asarray(times, dtype=np.float32) + np.float32(0.0)  # also turns -0.0 into +0.0
        if times.size and not (times.min() >= 0):  # catches NaN too
            raise ValueError(f"negative or NaN spike time (min {times.min()} ms)")
        units = np.asarray(units, dtype=np.int32)
        labels = np.asarray(labels, dtype=np.int64)
        if not (len(sample) == len(times) == len(units)):
            lengths = f"{len(sample)}, {len(times)}, {len(units)}"
            raise ValueError(f"sample, times, units differ in length: {lengths}")
        n = len(labels)
        if len(sample) and (sample.min() < 0 or sample.max() >= n):
            raise ValueError(f"sample index out of range [0, {n})")
        if n >= 2**32:
            raise ValueError(f"at most 2**32 samples, got {n}")
        # The bit pattern of a non-negative float32 orders like its value, so one uint64 key sorts by
        # (sample, time) -- several times faster than np.lexsort on millions of events.
        key = (sample.astype(np.uint64) << np.uint64(32)) | times.view(np.uint32).astype(np.uint64)
        if np.any(key[1:] < key[:-1]):
            order = np.argsort(key, kind="stable")
            times, units = times[order], units[order]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(sample, minlength=n), out=offsets[1:])
        return cls(times, units, offsets, labels, n_units, n_classes, duration, name, meta or {})

    # ------------------------------------------------------------------ basic queries

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other) -> bool:
        if not isinstance(other, SpikeData):
            return NotImplemented
        return (
            self.n_units == other.n_units
            and self.n_classes == other.n_classes
            and self.duration == other.duration
            and self.name == other.name
            and self.meta == other.meta
            and all(
                np.array_equal(getattr(self, f), getattr(other, f)) for f in ("times", "units", "offsets", "labels")
            )
        )

    __hash__ = None  # mutable arrays inside

    def __repr__(self) -> str:
        return (
            f"SpikeData(name={self.name!r}, n={len(self)}, events={len(self.times)}, n_units={self.n_units}, "
            f"n_classes={self.n_classes}, duration={self.duration} ms)"
        )

    def counts(self) -> np.ndarray:
        """Number of events per sample, int64 [n]."""
        return np.diff(self.offsets)

    def class_counts(self) -> np.ndarray:
        """Number of samples per class, int64 [n_classes]."""
        return np.bincount(self.labels, minlength=self.n_classes)

    def _indices(self, indices) -> np.ndarray:
        if indices is None:
            return np.arange(len(self), dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean mask must have shape ({len(self)},), got {idx.shape}")
            return np.flatnonzero(idx)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"sample index out of range for {len(self)} samples")
        return np.where(idx < 0, idx + len(self), idx)

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event positions of samples ``idx`` (concatenated in that order) and the batch row of each."""
        starts = self.offsets[idx]
        lens = self.offsets[idx + 1] - starts
        total = int(lens.sum())
        row = np.repeat(np.arange(len(idx), dtype=np.int64), lens)
        first = np.cumsum(lens) - lens  # position of each sample's first event in the output
        pos = np.arange(total, dtype=np.int64) - first[row] + starts[row]
        return pos, row

    def subset(self, indices) -> SpikeData:
        """The samples ``indices`` (integer array or boolean mask), in that order, as a new SpikeData."""
        idx = self._indices(indices)
        pos, _ = self._gather(idx)
        lens = self.offsets[idx + 1] - self.offsets[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return SpikeData(
            self.times[pos], self.units[pos], offsets, self.labels[idx],
            self.n_units, self.n_classes, self.duration, self.name, dict(self.meta),
        )  # fmt: skip

    # ------------------------------------------------------------------ tensors

    def n_steps(self, dt: float) -> int:
        """Default number of grid steps T = ceil(duration / Δt)."""
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        return _n_steps(self.duration, dt)

    def to_dense(
        self,
        dt: float,
        n_steps: int | None = None,
        indices=None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        """Binary spike raster ``[T, B, n_units]`` of the samples ``indices`` (all by default).

        An event at time t goes to step floor(t / Δt) (up to a relative 1e-6 tolerance for float32 times on a
        bin edge, see :func:`time_bins`); several events of one channel in one step give a single 1; events at
        t >= T·Δt are dropped. T defaults to ceil(duration / Δt).
        """
        T = self.n_steps(dt) if n_steps is None else int(n_steps)
        if T < 0:
            raise ValueError(f"n_steps must be >= 0, got {T}")
        idx = self._indices(indices)
        B, N = len(idx), self.n_units
        pos, row = self._gather(idx)
        step = time_bins(self.times[pos], dt)
        keep = step < T
        flat = (step[keep] * B + row[keep]) * N + self.units[pos][keep]
        out = torch.zeros(T * B * N, dtype=dtype, device=device)
        out[torch.from_numpy(flat).to(device)] = 1
        return out.view(T, B, N)

    def to_padded(
        self, max_spikes: int | None = None, indices=None, dtype: torch.dtype = torch.float64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Spike times per channel ``[B, n_units, K]`` (ascending, +inf padding), counts ``[B, n_units]``.

        K is ``max_spikes`` if given, else the largest count in the batch (at least 1, so the last axis is
        never empty). A channel with more than ``max_spikes`` events raises ``ValueError`` naming the sample.
        """
        idx = self._indices(indices)
        B, N = len(idx), self.n_units
        pos, row = self._gather(idx)
        key = row * N + self.units[pos]  # (batch row, channel) group of each event
        counts = np.bincount(key, minlength=B * N)
        most = int(counts.max()) if counts.size else 0
        if max_spikes is None:
            K = max(most, 1)
        else:
            K = int(max_spikes)
            if most > K:
                g = int(np.argmax(counts))
                raise ValueError(f"sample {idx[g // N]} channel {g % N} has {most} spikes, more than max_spikes = {K}")
        order = np.argsort(key, kind="stable")  # keeps time order within each group
        key_sorted = key[order]
        group_start = np.cumsum(counts) - counts
        rank = np.arange(len(key), dtype=np.int64) - group_start[key_sorted]
        padded = np.full(B * N * K, np.inf, dtype=np.float64)
        padded[key_sorted * K + rank] = self.times[pos][order]
        times = torch.from_numpy(padded).view(B, N, K).to(dtype)
        return times, torch.from_numpy(counts.astype(np.int64)).view(B, N)

    # ------------------------------------------------------------------ batches

    def batches(self, batch_size: int, shuffle: bool = True, seed: int = 0, epoch: int = 0) -> Iterator[np.ndarray]:
        """Index arrays of at most ``batch_size`` samples, every sample once (see :func:`iter_batches`)."""
        return iter_batches(self, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> Path:
        """Write HDF5 to ``path`` atomically (:func:`spikegrad.atomic.atomic_write`), creating folders.

        Layout: datasets ``times``, ``units``, ``offsets``, ``labels``; root attributes ``format``,
        ``format_version``, ``n_units``, ``n_classes``, ``duration``, ``name`` and ``meta`` (a JSON string).
        """
        import h5py

        meta_json = json.dumps(self.meta, default=json_default, sort_keys=True)

        def write(tmp: str) -> None:
            with h5py.File(tmp, "w") as f:
                for key in ("times", "units", "offsets", "labels"):
                    arr = getattr(self, key)
                    opts = dict(compression="gzip", compression_opts=4, shuffle=True) if arr.size else {}
                    f.create_dataset(key, data=arr, **opts)
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["n_units"] = self.n_units
                f.attrs["n_classes"] = self.n_classes
                f.attrs["duration"] = self.duration
                f.attrs["name"] = self.name
                f.attrs["meta"] = meta_json

        path = atomic_write(Path(path), write)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpikeData:
        """Read a file written by :meth:`save`; raise :class:`DataError` naming the file if it is missing,
        not HDF5, not a SpikeData file or inconsistent."""
        import h5py

        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such dataset file")
        try:
            with h5py.File(path, "r") as f:
                fmt = f.attrs.get("format")
                if fmt != FORMAT:
                    raise DataError(f"{path}: not a {FORMAT} file (format attribute {fmt!r})")
                version = int(f.attrs["format_version"])
                if version > FORMAT_VERSION:
                    raise DataError(f"{path}: format version {version} is newer than this library's")
                arrays = {key: f[key][()] for key in ("times", "units", "offsets", "labels")}
                attrs = {key: f.attrs[key] for key in ("n_units", "n_classes", "duration", "name", "meta")}
            return cls(
                **arrays,
                n_units=int(attrs["n_units"]),
                n_classes=int(attrs["n_classes"]),
                duration=float(attrs["duration"]),
                name=str(attrs["name"]),
                meta=json.loads(attrs["meta"]),
            )
        except DataError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:  # h5py, missing fields, JSON, validation
            raise DataError(f"{path}: corrupt or unreadable dataset file ({type(e).__name__}: {e})") from e


def _as_array(name: str, value, dtype, kind: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and kind == "i" and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.size and kind == "f" and arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def iter_batches(
    data: SpikeData | int, batch_size: int, shuffle: bool = True, seed: int = 0, epoch: int = 0
) -> Iterator[np.ndarray]:
    """Yield int64 index arrays of ``batch_size`` samples; the last one holds the remainder (never dropped).

    Together they cover every sample of ``data`` (a SpikeData or a sample count) exactly once. With
    ``shuffle`` the order is a permutation drawn from ``numpy.random.default_rng([seed, epoch])``: the same
    for the same (seed, epoch), different across epochs.
    """
    n = data if isinstance(data, int | np.integer) else len(data)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shuffle:
        if seed < 0 or epoch < 0:
            raise ValueError(f"seed and epoch must be >= 0, got {seed} and {epoch}")
        order = np.random.default_rng([seed, epoch]).permutation(n)
    else:
        order = np.arange(n, dtype=np.int64)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def batch_count(n: int, batch_size: int) -> int:
    """Number of batches :func:`iter_batches` yields for ``n`` samples."""
    return -(-n // batch_size)


__all__ = ("DataError", "SpikeData", "batch_count", "iter_batches", "time_bins")
