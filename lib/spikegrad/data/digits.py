r"""Latency-coded scikit-learn digits (8×8 images, 1797 samples, 10 classes; shipped with scikit-learn).

**Encoding** (time-to-first-spike latency code). Each pixel is one input channel. With intensity g ∈ [0, 1]
(digits: g = pixel / 16), a pixel with g > 0 fires one spike at

.. math::

    t = (1 - g)\, t_\text{max},

so the brightest pixel fires at 0 and the faintest just before t_max; pixels with g = 0 stay silent, as
EventProp's latency-MNIST encoder drops near-black pixels (Nowotny et al., arXiv 2212.01232). The trial lasts
t_max + 1 ms, a margin so every spike falls inside the trial on any grid.

**Split.** Fixed and stratified by class: ``train_test_split`` (scikit-learn, ``random_state=0``) takes
20 % as test, then 25 % of the remainder as validation: 1077 train / 360 validation / 360 test samples.
"""

from __future__ import annotations

import numpy as np

from .spikedata import SPLITS, SpikeData

VERSION = 1  # bump when the generated data change
MARGIN = 1.0  # ms after t_max until the trial ends


def latency_encode(
    images: np.ndarray,
    labels: np.ndarray,
    t_max: float,
    duration: float | None = None,
    name: str = "",
    meta: dict | None = None,
    n_classes: int | None = None,
) -> SpikeData:
    """One spike per pixel with g > 0 at t = (1 − g)·t_max (module docstring).

    ``images`` is [n, P] with intensities in [0, 1]; pixel p is channel p. ``duration`` defaults to
    t_max + 1 ms and ``n_classes`` to max(labels) + 1.
    """
    images = np.asarray(images, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 2:
        raise ValueError(f"images must be [n, pixels], got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if images.size and (np.isnan(images).any() or images.min() < 0 or images.max() > 1):
        raise ValueError("image intensities must lie in [0, 1]")
    if not t_max > 0:
        raise ValueError(f"t_max must be positive, got {t_max}")
    duration = t_max + MARGIN if duration is None else duration
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if len(labels) else 1
    sample, pixel = np.nonzero(images > 0)
    times = (1.0 - images[sample, pixel]) * t_max
    return SpikeData.from_events(sample, times, pixel, labels, images.shape[1], n_classes, duration, name, meta or {})


def split_indices(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Stratified 60/20/20 train/validation/test indices (sorted) by two ``train_test_split`` calls."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=0.2, random_state=seed, stratify=labels)
    train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=labels[rest])
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def digits(split: str, t_max: float = 20.0) -> SpikeData:
    """The latency-coded digits ``split`` ("train", "validation" or "test"); 64 channels, 10 classes."""
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; valid: {', '.join(SPLITS)}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.data / 16.0, bunch.target.astype(np.int64)
    idx = split_indices(labels)[split]
    meta = {
        "dataset": "digits",
        "version": VERSION,
        "split": split,
        "params": {"t_max": float(t_max)},
        "encoding": "t = (1 - g)*t_max for g = pixel/16 > 0; g = 0 silent",
        "split_rule": "stratified train_test_split, random_state=0: 20% test, then 25% of rest validation",
        "sample_ids": idx.tolist(),  # positions in sklearn.datasets.load_digits()
        "image_shape": [8, 8],
        "source": "scikit-learn load_digits (UCI optical recognition of handwritten digits, test set)",
    }
    return latency_encode(images[idx], labels[idx], t_max, name="digits", meta=meta, n_classes=10)
