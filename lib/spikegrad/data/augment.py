"""Preprocessing and augmentation of spike data: pure functions ``SpikeData -> SpikeData``.

Every function returns a new :class:`~spikegrad.data.spikedata.SpikeData` and leaves its input untouched. They
are vectorised over all events (no Python loop over samples or events) and reproduce the SHD/SSC pipeline of
EventProp with loss shaping (Nowotny, Turner & Knight, arXiv 2212.01232 v3, §"Final SHD/SSC"; code in
``tnowotny/genn_eventprop``, ``simulator_SHD.py`` and ``utils.py``):

- deterministic preprocessing, applied once (and cached, see :mod:`spikegrad.data.cache`):
  :func:`crop_time` (tonic ``CropTime`` to the trial length), :func:`bin_time` (events to the Δt grid with at most
  one spike per channel and step, genn_eventprop's ``EventsToGrid``), :func:`delay_line` (10 copies delayed by
  0, 30, ..., 270 ms: 7000 inputs);
- random augmentation, redrawn every epoch: :func:`shift_channels` (±40 channels) and :func:`blend` (pairs of
  the same class, centroids aligned, each spike kept with p = 0.5, doubling the training set).

A pipeline is a list of :class:`Transform` records ``(name, params)``; :func:`apply` runs it with a generator
seeded from ``(seed, epoch)`` and :func:`transform_key` hashes it for caching.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .spikedata import SpikeData, json_default, time_bins

# Delay-line copies of EventProp's final SHD/SSC model: 0, 30, ..., 270 ms.
DELAYS_MS = tuple(30.0 * k for k in range(10))

# Extra entropy word that separates the augmentation stream from the batch-order stream of ``iter_batches``
# (which uses default_rng([seed, epoch])): the two must not consume the same random bits.
_AUG_STREAM = 0x61756700  # "aug\0"


# ---------------------------------------------------------------------------------------------- helpers


def _rows(data: SpikeData) -> np.ndarray:
    """Sample index of every event, int64 [E]."""
    return np.repeat(np.arange(len(data), dtype=np.int64), data.counts())


def _rebuild(data: SpikeData, keep: np.ndarray, times=None, units=None, **changes) -> SpikeData:
    """New SpikeData with the events ``keep`` (boolean mask) of ``data``, optionally with new per-event times and
    units (same event order, which must stay sorted by time within each sample) and changed scalar fields."""
    times = data.times if times is None else times
    units = data.units if units is None else units
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(np.bincount(_rows(data)[keep], minlength=len(data)), out=offsets[1:])
    fields = dict(
        n_units=data.n_units, n_classes=data.n_classes, duration=data.duration, name=data.name, meta=dict(data.meta)
    )
    fields.update(changes)
    return SpikeData(times[keep], units[keep], offsets, data.labels.copy(), **fields)


def _concat(a: SpikeData, b: SpikeData) -> SpikeData:
    """Samples of ``a`` followed by those of ``b`` (same channels, classes, duration); name and meta of ``a``."""
    offsets = np.concatenate([a.offsets, a.offsets[-1] + b.offsets[1:]])
    return SpikeData(
        np.concatenate([a.times, b.times]), np.concatenate([a.units, b.units]), offsets,
        np.concatenate([a.labels, b.labels]), a.n_units, a.n_classes, a.duration, a.name, dict(a.meta),
    )  # fmt: skip


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of ms, got {value}")
    return value


# ---------------------------------------------------------------------------------------------- deterministic


def crop_time(data: SpikeData, t_max: float) -> SpikeData:
    """Keep the events with t < t_max and set the trial length to ``t_max`` ms (tonic ``CropTime(max=t_max)``).

    EventProp crops SHD and SSC to the trial length before binning (1000 ms in the final models, 1400 ms in the
    loss comparison; Nowotny et al. 2212.01232 v3 §3). ``t_max`` larger than the duration lengthens the trial.
    """
    t_max = _positive("t_max", t_max)
    return _rebuild(data, data.times < t_max, duration=t_max)


def bin_time(data: SpikeData, dt: float) -> SpikeData:
    """Snap every event to the grid, t -> floor(t / Δt)·Δt, keeping at most one spike per channel and step.

    The step index is :func:`~spikegrad.data.spikedata.time_bins` (the rule of ``SpikeData.to_dense``, with its
    float32 bin-edge tolerance), so binning is idempotent and ``bin_time(d, dt).to_dense(dt)`` equals
    ``d.to_dense(dt)``. This is the "events binned to the Δt grid with at most one spike per channel per step"
    preprocessing of EventProp's SHD/SSC pipeline (genn_eventprop ``EventsToGrid``; Nowotny et al.
    2212.01232 v3 §3). Within one step the surviving events are ordered by channel. Events at or after the trial
    end are kept (use :func:`crop_time` first).
    """
    dt = _positive("dt", dt)
    n = len(data)
    if len(data.times) == 0:
        return _rebuild(data, np.ones(0, dtype=bool))
    step = time_bins(data.times, dt)
    n_step, n_units = int(step.max()) + 1, data.n_units
    if n * n_step * n_units >= 2**63:  # Python ints: no overflow in the check itself
        raise ValueError(f"too many (sample, step, channel) cells to index: {n} x {n_step} x {n_units}")
    key = (_rows(data) * n_step + step) * n_units + data.units
    key.sort()  # by (sample, step, channel); np.sort + diff is several times faster than np.unique here
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]  # duplicates removed
    sample, rest = np.divmod(key, n_step * n_units)
    step, units = np.divmod(rest, n_units)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(sample, minlength=n), out=offsets[1:])
    times = (step * dt).astype(np.float32)
    return SpikeData(
        times, units, offsets, data.labels.copy(), data.n_units, data.n_classes, data.duration, data.name,
        dict(data.meta),
    )  # fmt: skip


def delay_line(data: SpikeData, delays: Sequence[float] = DELAYS_MS, extend: bool = False) -> SpikeData:
    """Input delay line: ``len(delays)`` copies of every sample, copy k delayed by ``delays[k]`` ms.

    An event of channel u at time t becomes the events (t + d_k, k·N + u) for k = 0 … K−1, so the output has
    N·K channels (EventProp's final SHD/SSC model: K = 10, d_k = 30·k ms, 700 -> 7000 inputs, input weights
    divided by 10; Nowotny et al. 2212.01232 v3 §3; genn_eventprop lays out the copies in the same order,
    neuron k·num_input + u).

    Trial length: by default (``extend=False``) the duration is kept and delayed events at t + d_k >= duration
    are dropped. This is what EventProp does: the delays live in the input neurons of a trial that is still
    ``TRIAL_MS`` long, so late copies are cut off; the number of simulated steps, the loss window of the
    integral losses and the compute cost stay those of the undelayed input. ``extend=True`` instead lengthens
    the trial by max(delays) and keeps every event (a longer simulation and a different loss window, so not
    the published setting).

    The output holds K times the events of the input; for a full SHD training set that is several GB, so for
    training apply it per batch (``delay_line(data.subset(batch))``) rather than to the whole set.
    """
    delays = np.asarray(delays, dtype=np.float64).reshape(-1)
    if delays.size == 0:
        raise ValueError("delays must hold at least one delay")
    if not (np.all(np.isfinite(delays)) and np.all(delays >= 0)):
        raise ValueError(f"delays must be finite and >= 0 ms, got {delays.tolist()}")
    K, N = len(delays), data.n_units
    duration = data.duration + float(delays.max()) if extend else data.duration
    times = (data.times[None, :] + delays.astype(np.float32)[:, None]).reshape(-1)  # float32 [K·E], copy-major
    units = (data.units[None, :].astype(np.int64) + N * np.arange(K)[:, None]).reshape(-1)
    sample = np.tile(_rows(data), K)
    keep = times < duration
    return SpikeData.from_events(
        sample[keep], times[keep], units[keep], data.labels.copy(), N * K, data.n_classes, duration, data.name,
        dict(data.meta),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- random


def shift_channels(data: SpikeData, max_shift: int, rng) -> SpikeData:
    """Shift each sample along the channel axis: u -> u + s with one s ~ U{−max_shift, …, max_shift} per sample.

    Events shifted outside [0, n_units) are dropped. EventProp's SHD/SSC models use max_shift = 40 (Nowotny et
    al. 2212.01232 v3 §3; genn_eventprop ``random_shift``). Note: genn_eventprop draws
    ``int(rng.uniform(-40, 40))``, which truncates towards zero, so its shifts lie in −39 … 39 with 0 twice as
    likely as any other value; here every integer in [−max_shift, max_shift] has probability 1/(2·max_shift + 1).
    ``rng`` is a ``numpy.random.Generator`` (or a seed for one); one integer is drawn per sample.
    """
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer, got {max_shift}")
    rng = np.random.default_rng(rng)
    shift = rng.integers(-int(max_shift), int(max_shift) + 1, size=len(data))
    units = data.units.astype(np.int64) + shift[_rows(data)]
    keep = (units >= 0) & (units < data.n_units)
    return _rebuild(data, keep, units=units)


def blend(data: SpikeData, rng, p: float = 0.5, n_new: int | None = None) -> SpikeData:
    """The samples of ``data`` followed by ``n_new`` (default ``len(data)``) blends of same-class pairs.

    Blend j (EventProp, Nowotny et al. 2212.01232 v3 §3; genn_eventprop ``blend``/``blend_dataset``):

    1. draw an anchor a uniformly from all samples (so classes appear in proportion to their frequency) and a
       partner b uniformly from the *other* samples of class label[a] (b = a if the class has one sample);
    2. centroids c_i = (mean channel, mean time) over the events of sample i; target c̄ = (c_a + c_b) / 2
       (the centroid of a sample without events is ignored: c̄ is then the other one's);
    3. move every event of sample i by (rint(c̄_x − c_x,i), c̄_t − c_t,i): channels by the nearest integer
       (halves to even, which is odd-symmetric), times exactly. The two shifts are opposite, so for p = 1 the
       centroid of the union is c̄ up to the channel rounding;
    4. keep each event of the union independently with probability p; drop events outside [0, n_units) or
       outside [0, duration).

    The blend gets label[a]. With p = 0.5 a blend has on average as many events as one of its parents.

    Differences from genn_eventprop, which draws both parents with replacement from the class (so they may be
    one sample) and truncates both shifts towards zero (``int()``, so time moves in whole ms): here the partner
    is another sample, the channel shift is rounded to nearest and time is shifted exactly. As in the original,
    the union may hold two spikes of one channel in one Δt step (``to_dense`` merges them; event-based engines
    see both), and blends are redrawn every epoch (genn_eventprop re-blends its training set each epoch).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    n = len(data)
    n_new = n if n_new is None else int(n_new)
    if n_new < 0:
        raise ValueError(f"n_new must be >= 0, got {n_new}")
    if n_new == 0:
        return _concat(data, data.subset([]))
    if n == 0:
        raise ValueError("cannot blend an empty data set")
    rng = np.random.default_rng(rng)

    # 1. pairs: anchor uniform over samples, partner uniform over the other members of its class
    labels = data.labels
    order = np.argsort(labels, kind="stable")  # samples grouped by class
    class_size = np.bincount(labels, minlength=data.n_classes)
    class_start = np.cumsum(class_size) - class_size
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - class_start[labels[order]]  # position of each sample within its class
    a = rng.integers(0, n, size=n_new)
    others = class_size[labels[a]] - 1
    r = rng.integers(0, np.maximum(others, 1))  # uniform over the others (0 when there are none)
    r = np.where(others > 0, r + (r >= rank[a]), rank[a])  # skip the anchor itself
    b = order[class_start[labels[a]] + r]

    # 2. centroids of all samples
    counts = data.counts()
    rows = _rows(data)
    safe = np.maximum(counts, 1)
    cx = np.bincount(rows, weights=data.units, minlength=n) / safe
    ct = np.bincount(rows, weights=data.times.astype(np.float64), minlength=n) / safe
    has = counts > 0
    ha, hb = has[a], has[b]
    w = ha.astype(np.float64) + hb  # number of parents with events (0, 1 or 2)
    ww = np.maximum(w, 1)
    tx = (np.where(ha, cx[a], 0.0) + np.where(hb, cx[b], 0.0)) / ww
    tt = (np.where(ha, ct[a], 0.0) + np.where(hb, ct[b], 0.0)) / ww

    # 3. events of both parents, shifted towards the common centroid
    parents = np.concatenate([a, b])  # parent of blend j: a[j] and b[j] = parents[n_new + j]
    blend_of = np.concatenate([np.arange(n_new), np.arange(n_new)])
    dx = np.rint(tx[blend_of] - cx[parents]).astype(np.int64)  # per parent copy
    dtime = tt[blend_of] - ct[parents]
    pos, row = data._gather(parents)
    j = blend_of[row]
    units = data.units[pos].astype(np.int64) + dx[row]
    times = (data.times[pos] + dtime[row]).astype(np.float32)  # range checks below on the stored float32 values

    # 4. thinning and range checks
    keep = rng.random(len(pos)) < p
    keep &= (units >= 0) & (units < data.n_units) & (times >= 0) & (times < data.duration)
    blends = SpikeData.from_events(
        j[keep], times[keep], units[keep], labels[a], data.n_units, data.n_classes, data.duration, data.name,
        dict(data.meta),
    )  # fmt: skip
    return _concat(data, blends)


# ---------------------------------------------------------------------------------------------- pipelines


class Transform(NamedTuple):
    """One step of a pipeline: the name of a function in :data:`TRANSFORMS` and its keyword arguments.

    ``Transform("crop_time", {"t_max": 1000.0})``; params must be JSON-serialisable (lists for sequences).
    """

    name: str
    params: dict = {}  # shared default, never mutated (NamedTuple fields have no default_factory)


class _Spec(NamedTuple):
    fn: Callable[..., SpikeData]
    random: bool  # takes an ``rng`` and differs per epoch


TRANSFORMS: dict[str, _Spec] = {
    "crop_time": _Spec(crop_time, False),
    "bin_time": _Spec(bin_time, False),
    "delay_line": _Spec(delay_line, False),
    "shift_channels": _Spec(shift_channels, True),
    "blend": _Spec(blend, True),
}


def canonical(obj):
    """``obj`` after a JSON round trip (tuples -> lists, numpy scalars -> Python numbers)."""
    return json.loads(json.dumps(obj, default=json_default, sort_keys=True))


def is_random(transform: Transform) -> bool:
    """Whether ``transform`` draws random numbers (and so belongs in the per-epoch pipeline)."""
    return _spec(transform.name).random


def _spec(name: str) -> _Spec:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; valid: {', '.join(sorted(TRANSFORMS))}")
    return TRANSFORMS[name]


def resolve(transform: Transform) -> Transform:
    """``transform`` with every parameter spelled out (defaults of its function filled in) in JSON form.

    Hashing the resolved parameters means a changed default in the code changes the cache key too.
    """
    transform = Transform(*transform)
    spec = _spec(transform.name)
    sig = inspect.signature(spec.fn)
    names = [k for k in sig.parameters if k not in ("data", "rng")]
    unknown = sorted(set(transform.params) - set(names))
    if unknown:
        raise ValueError(f"transform {transform.name!r} has no parameter(s) {unknown}; valid: {names}")
    params = {}
    for k in names:
        if k in transform.params:
            params[k] = transform.params[k]
        elif sig.parameters[k].default is inspect.Parameter.empty:
            raise ValueError(f"transform {transform.name!r} needs parameter {k!r}")
        else:
            params[k] = sig.parameters[k].default
    return Transform(transform.name, canonical(params))


def transform_key(transforms: Sequence[Transform]) -> str:
    """Stable short hash (16 hex digits of SHA-256) of the resolved names and parameters, in order.

    Equal for equal pipelines whatever the spelling of defaults or tuple/list; note that ``1000`` and
    ``1000.0`` are different JSON and so different keys (a cache miss, never a stale hit).
    """
    record = [[t.name, t.params] for t in map(resolve, transforms)]
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def augment_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator :func:`apply` uses: seeded from (seed, epoch) and a constant that keeps it independent of
    the batch order drawn by ``iter_batches(seed=seed, epoch=epoch)``."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got {seed} and {epoch}")
    return np.random.default_rng([int(seed), int(epoch), _AUG_STREAM])


def apply(data: SpikeData, transforms: Sequence[Transform], seed: int = 0, epoch: int = 0) -> SpikeData:
    """Run ``transforms`` in order. Random ones share one generator, :func:`augment_rng` (seed, epoch): the same
    (seed, epoch) gives the same output, another epoch other draws. The output's ``meta["transforms"]`` gets
    the resolved records appended (and ``meta["augment_seed"] = [seed, epoch]`` if any was random)."""
    resolved = [resolve(t) for t in transforms]
    rng = augment_rng(seed, epoch)
    out = data
    for t in resolved:
        spec = TRANSFORMS[t.name]
        out = spec.fn(out, rng=rng, **t.params) if spec.random else spec.fn(out, **t.params)
    if out is data:  # empty pipeline: still a new object
        out = data.subset(None)
    meta = dict(out.meta)
    meta["transforms"] = list(meta.get("transforms", [])) + [{"name": t.name, "params": t.params} for t in resolved]
    if any(TRANSFORMS[t.name].random for t in resolved):
        meta["augment_seed"] = [int(seed), int(epoch)]
    return _with_meta(out, meta)


def _with_meta(data: SpikeData, meta: dict) -> SpikeData:
    """``data`` with ``meta`` replaced (arrays shared: only for objects this module just built)."""
    return SpikeData(
        data.times, data.units, data.offsets, data.labels, data.n_units, data.n_classes, data.duration, data.name,
        meta,
    )  # fmt: skip


__all__ = (
    "DELAYS_MS",
    "TRANSFORMS",
    "Transform",
    "apply",
    "augment_rng",
    "bin_time",
    "blend",
    "canonical",
    "crop_time",
    "delay_line",
    "is_random",
    "resolve",
    "shift_channels",
    "transform_key",
)
