r"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2021, arXiv 2102.08211), latency-coded as in EventProp.

**Points.** A point (x, y) is uniform in the square [0, 2R]² and kept only inside the big circle of radius
R = 0.5 centred at (R, R). With the distances to the two dot centres

.. math::

    d_r = \lVert (x, y) - (1.5R, R) \rVert, \qquad d_l = \lVert (x, y) - (0.5R, R) \rVert

and dot radius r = 0.1, the class is (the published rule, label numbers as in the original generator, whose
``class_names`` are yin, yang, dot)

- 2 ("dot") if d_r < r or d_l < r;
- else 1 ("yang") if d_r ≤ r, or r < d_l ≤ R/2, or (y > R and d_r > R/2);
- else 0 ("yin").

So class 1 fills the upper half outside the right half-size circle plus the left half-size circle (minus its
dot), class 0 the rest, and the two dots are class 2. Samples are class-balanced: the goal class of each
sample is drawn uniformly from {0, 1, 2} first, then a point is rejection-sampled until it falls in that
class. Here the rejection sampling is vectorised: candidates are drawn in blocks and each pending sample of
class c takes the next unused candidate of class c, so every sample is still an independent uniform point of
its goal class (the same distribution as the original loop, not the same random stream: numpy's
``default_rng`` instead of the original ``RandomState``). Default sizes and seeds follow the original
repository: train 5000 (seed 42), validation 1000 (seed 41), test 1000 (seed 40).

**Encoding** (Nowotny, Turner & Knight, arXiv 2212.01232; ``tnowotny/genn_eventprop``,
``simulator_yinyang.py``, ``yinyang.generate_training_data``). Five input channels carry one spike each, the
values
v = (0, x, y, 1 − x, 1 − y) in channel order (bias, x, y, 1−x, 1−y), at

.. math::

    t = v\,(T - 4\Delta t) + 2\Delta t, \qquad T = 30 \text{ ms}, \ \Delta t = 0.1 \text{ ms},

so every spike lies in [2Δt, T − 2Δt] = [0.2, 29.8] ms. The bias channel is a constant value 0 stacked in
front of the four coordinates, i.e. a spike at t = 2Δt = 0.2 ms in every sample.
"""

from __future__ import annotations

import numpy as np

from .spikedata import SpikeData

R_BIG = 0.5  # R, radius of the big circle
R_SMALL = 0.1  # r, radius of the dots
DT_PAD = 0.1  # Δt, ms: spikes lie in [2Δt, T − 2Δt]
CHANNELS = ("bias", "x", "y", "1-x", "1-y")
CLASS_NAMES = ("yin", "yang", "dot")
VERSION = 1  # bump when the generated data change
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}  # split: (size, seed)

# Fraction of the square [0, 2R]² covered by each class (dots: 2πr²; the rest of the circle halved), used only
# to size the candidate blocks.
_DOTS = 2 * np.pi * R_SMALL**2
_AREA = np.array([(np.pi * R_BIG**2 - _DOTS) / 2] * 2 + [_DOTS]) / (2 * R_BIG) ** 2


def yinyang_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class (0 yin, 1 yang, 2 dot; module docstring) of points inside the big circle, int64."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    d_right = np.hypot(x - 1.5 * R_BIG, y - R_BIG)
    d_left = np.hypot(x - 0.5 * R_BIG, y - R_BIG)
    yang = (
        (d_right <= R_SMALL) | ((d_left > R_SMALL) & (d_left <= 0.5 * R_BIG)) | ((y > R_BIG) & (d_right > 0.5 * R_BIG))
    )
    dot = (d_right < R_SMALL) | (d_left < R_SMALL)
    return np.where(dot, 2, yang.astype(np.int64))


def sample_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` class-balanced Yin-Yang points: coordinates float64 [n, 2] in [0, 2R] and labels int64 [n]."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(3, size=n).astype(np.int64)
    xy = np.empty((n, 2), dtype=np.float64)
    pending = [np.flatnonzero(labels == c) for c in range(3)]  # samples of class c still without a point
    while any(len(p) for p in pending):
        need = max(len(p) / a for p, a in zip(pending, _AREA, strict=True))
        cand = rng.random((int(1.1 * need) + 64, 2)) * (2 * R_BIG)
        cand = cand[np.hypot(cand[:, 0] - R_BIG, cand[:, 1] - R_BIG) <= R_BIG]
        cls = yinyang_class(cand[:, 0], cand[:, 1])
        for c in range(3):
            got = cand[cls == c][: len(pending[c])]
            xy[pending[c][: len(got)]] = got
            pending[c] = pending[c][len(got) :]
    return xy, labels


def encode(
    xy: np.ndarray,
    labels: np.ndarray,
    duration: float = 30.0,
    name: str = "yinyang",
    meta: dict | None = None,
) -> SpikeData:
    """Latency-code points in [0, 1]² into channels (bias, x, y, 1−x, 1−y), one spike each (module doc)."""
    if not duration > 4 * DT_PAD:
        raise ValueError(f"duration must exceed 4Δt = {4 * DT_PAD} ms, got {duration}")
    xy = np.asarray(xy, dtype=np.float64)
    n = len(xy)
    values = np.column_stack([np.zeros(n), xy, 1.0 - xy])  # [n, 5] in channel order
    times = values * (duration - 4 * DT_PAD) + 2 * DT_PAD
    order = np.argsort(times, axis=1, kind="stable")  # sort each sample's events by time
    return SpikeData(
        times=np.take_along_axis(times, order, axis=1).reshape(-1),
        units=order.reshape(-1),
        offsets=np.arange(n + 1, dtype=np.int64) * len(CHANNELS),
        labels=labels,
        n_units=len(CHANNELS),
        n_classes=3,
        duration=duration,
        name=name,
        meta=meta or {},
    )


def decode_points(data: SpikeData) -> np.ndarray:
    """Recover the (x, y) coordinates [n, 2] from the spike times of channels x and y (float32 precision)."""
    duration = data.duration
    t = np.full((len(data), 2), np.nan)
    sample = np.repeat(np.arange(len(data)), data.counts())
    for col, unit in enumerate((1, 2)):
        sel = data.units == unit
        t[sample[sel], col] = data.times[sel]
    return (t - 2 * DT_PAD) / (duration - 4 * DT_PAD)


def yinyang(split: str, n: int | None = None, duration: float = 30.0, seed: int | None = None) -> SpikeData:
    """The Yin-Yang ``split`` ("train", "validation" or "test"), latency-coded over ``duration`` ms.

    ``n`` and ``seed`` default to the original sizes and seeds (train 5000/42, validation 1000/41,
    test 1000/40). The same arguments always give identical data.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Yin-Yang split {split!r}; valid: {', '.join(SPLITS)}")
    default_n, default_seed = SPLITS[split]
    n = default_n if n is None else int(n)
    seed = default_seed if seed is None else int(seed)
    xy, labels = sample_points(n, seed)
    meta = {
        "dataset": "yinyang",
        "version": VERSION,
        "split": split,
        "params": {"n": n, "duration": float(duration), "seed": seed},
        "r_big": R_BIG,
        "r_small": R_SMALL,
        "class_names": list(CLASS_NAMES),
        "channels": list(CHANNELS),
        "encoding": "t = v*(T - 4*dt_pad) + 2*dt_pad; v = (0, x, y, 1-x, 1-y)",
        "dt_pad": DT_PAD,
        "source": "Kriener et al. 2021 (arXiv 2102.08211); encoding: genn_eventprop simulator_yinyang.py",
    }
    return encode(xy, labels, duration=duration, name="yinyang", meta=meta)
