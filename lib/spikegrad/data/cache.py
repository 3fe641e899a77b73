"""Disk cache of deterministically preprocessed datasets, keyed so that it cannot go stale.

``cached(loader, name, split, transforms, root)`` returns ``apply(loader(name, split), transforms)`` and keeps
it in ``root/cache/<name>/<split>/<key>.h5``. The key hashes everything the result depends on: the dataset name,
the split, the loader's keyword arguments, every transform with all its parameters (defaults spelled out, see
:func:`spikegrad.data.augment.resolve`), the cache format and the library version. Changing any of them gives a
new file instead of silently reusing an old one -- unlike tonic's ``DiskCachedDataset``, whose files are named
by sample index only and which documents that it cannot notice a changed transform (tonic issue #160: a sweep
over ``n_time_bins`` kept reading 25 bins).

Only deterministic transforms can be cached. Random augmentations (``shift_channels``, ``blend``) must differ
per epoch; they belong in the training loop (``augment.apply(data, transforms, seed, epoch)``) and are refused
here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from .augment import Transform, apply, canonical, is_random, resolve, transform_key
from .spikedata import DataError, SpikeData

CACHE_VERSION = 1  # bump when a transform's implementation changes its output for the same parameters


def _record(name: str, split: str, transforms: Sequence[Transform], loader_kwargs: dict) -> dict:
    random = [t.name for t in map(Transform._make, transforms) if is_random(t)]
    if random:
        raise ValueError(
            f"random transform(s) {random} cannot be cached: they must be redrawn every epoch; apply them in the "
            "training pipeline with spikegrad.data.augment.apply(data, transforms, seed, epoch)"
        )
    return {
        "cache_version": CACHE_VERSION,
        "spikegrad": __version__,
        "name": name,
        "split": split,
        "loader_kwargs": canonical(loader_kwargs),
        "transforms": [{"name": t.name, "params": t.params} for t in map(resolve, transforms)],
        "transform_key": transform_key(transforms),
    }


def cache_key(name: str, split: str, transforms: Sequence[Transform], **loader_kwargs) -> str:
    """16 hex digits of SHA-256 over the dataset name, split, loader kwargs, resolved transforms and versions."""
    text = json.dumps(_record(name, split, transforms, loader_kwargs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(
    name: str, split: str, transforms: Sequence[Transform], root: str | os.PathLike, **loader_kwargs
) -> Path:
    """Where :func:`cached` keeps this result: ``root/cache/<name>/<split>/<key>.h5``."""
    return Path(root) / "cache" / name / split / f"{cache_key(name, split, transforms, **loader_kwargs)}.h5"


def cached(
    loader: Callable[..., SpikeData],
    name: str,
    split: str,
    transforms: Sequence[Transform],
    root: str | os.PathLike,
    **loader_kwargs,
) -> SpikeData:
    """``apply(loader(name, split, **loader_kwargs), transforms)``, read from the cache file when it exists.

    On a miss the result is written atomically with :meth:`SpikeData.save`; its ``meta["cache"]`` records the
    key, dataset, split, loader kwargs and the full resolved transform list (``meta["transforms"]`` lists the
    transforms too). A cache file whose recorded key differs from its name raises :class:`DataError`. Random
    transforms raise ``ValueError`` (see the module docstring). ``loader_kwargs`` must be JSON-serialisable;
    paths count by their text, so the same data under another path gets its own entry.
    """
    record = _record(name, split, transforms, loader_kwargs)
    key = cache_key(name, split, transforms, **loader_kwargs)
    path = Path(root) / "cache" / name / split / f"{key}.h5"
    if path.exists():
        data = SpikeData.load(path)
        found = data.meta.get("cache", {}).get("key")
        if found != key:
            raise DataError(f"{path}: cache entry records key {found!r}, not {key!r}; delete the file")
        return data
    data = apply(loader(name, split, **loader_kwargs), transforms)
    meta = canonical({**data.meta, "cache": {**record, "key": key}})
    data = SpikeData(
        data.times, data.units, data.offsets, data.labels, data.n_units, data.n_classes, data.duration, data.name,
        meta,
    )  # fmt: skip
    data.save(path)
    return data


__all__ = ("CACHE_VERSION", "cache_key", "cache_path", "cached")
