"""Dataset registry: every dataset by name, loaded through one function, :func:`load`.

Three kinds, all returned as :class:`SpikeData`:

- embedded and cheap (``yinyang``, ``digits``): generated in memory, or read from ``root/<name>/<split>.h5``
  when :func:`prepare` wrote it there;
- embedded and synthesized once (``spoken-digits``, ``spoken-commands``): built by :func:`prepare` into
  ``root/<name>/<split>.h5`` in the SHD file format (minutes), then read from there;
- published (``shd``, ``ssc``, ``nmnist``, ``mnist``, ``fashion-mnist``, ``emnist``): fetched by
  :func:`download` into ``root`` (needs a network), then read from there; missing files raise one clear message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import published, spoken
from .digits import digits
from .download import DatasetUnavailable
from .spikedata import SPLITS, SpikeData
from .yinyang import yinyang

GENERATED: dict[str, Callable[..., SpikeData]] = {"yinyang": yinyang, "digits": digits}
SYNTHESIZED: tuple[str, ...] = tuple(spoken.VOCABULARIES)
DATASETS: tuple[str, ...] = tuple(sorted([*GENERATED, *SYNTHESIZED, *published.PUBLISHED]))


def _check(name: str, split: str | None = None) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")


def path_for(name: str, split: str, root: str | os.PathLike) -> Path:
    """Where :func:`prepare` writes an embedded dataset's split: ``root/<name>/<split>.h5``."""
    _check(name, split)
    if name in published.PUBLISHED:
        raise ValueError(f"{name} is a published dataset; its files live where download() puts them")
    return Path(root) / name / f"{split}.h5"


def load(name: str, split: str, root: str | os.PathLike | None = None, **kwargs) -> SpikeData:
    """Split ``split`` of dataset ``name``; ``kwargs`` go to the dataset's generator or reader.

    ``yinyang``/``digits`` are generated unless ``root/<name>/<split>.h5`` exists; keyword arguments that are
    not None must then match the generator parameters recorded in the file (a mismatch raises ValueError
    rather than returning other data). Every other dataset is read from files under ``root``.
    """
    _check(name, split)
    if name in GENERATED:
        if root is not None and (path := path_for(name, split, root)).exists():
            data = SpikeData.load(path)
            recorded = data.meta.get("params", {})
            for key, value in kwargs.items():
                if value is not None and recorded.get(key) != value:
                    raise ValueError(
                        f"{path} was generated with {key}={recorded.get(key)!r}, not {value!r}; "
                        "delete it or load without root"
                    )
            return data
        return GENERATED[name](split, **kwargs)
    if root is None:
        raise ValueError(f"{name} is read from files: pass root=, the folder given to prepare or download")
    if name in SYNTHESIZED:
        path = path_for(name, split, root)
        if not path.exists():
            raise DatasetUnavailable(
                f"{name} is missing: expected {path}. Build it (a few minutes, no network) with "
                f"`python -m spikegrad.data prepare {name} --root {root}`"
            )
        return spoken.load_spoken(name, split, root, **kwargs)
    return published.PUBLISHED[name](split, root, **kwargs)


def prepare(name: str, root: str | os.PathLike, **kwargs) -> list[Path]:
    """Generate every split of an embedded dataset under ``root``; return the written paths."""
    _check(name)
    if name in GENERATED:
        return [GENERATED[name](split, **kwargs).save(path_for(name, split, root)) for split in SPLITS]
    if name in SYNTHESIZED:
        return spoken.write_spoken(name, root, **kwargs)
    raise ValueError(f"{name} is a published dataset: use download, not prepare")


def download(name: str, root: str | os.PathLike) -> list[Path]:
    """Fetch a published dataset into ``root`` (needs a network); return its files."""
    _check(name)
    if name not in published.PUBLISHED:
        raise ValueError(f"{name} is embedded (no download needed): use prepare")
    return published.download(name, root)
