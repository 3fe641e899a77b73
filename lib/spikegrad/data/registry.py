"""Dataset registry: every embedded dataset by name, loaded or generated through one function.

``load(name, split)`` generates the split in memory; with ``root`` it reads ``root/<name>/<split>.h5`` when
that file exists (as written by :func:`prepare`, e.g. from the workflow's data rule) and generates otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .digits import digits
from .spikedata import SpikeData
from .yinyang import yinyang

SPLITS = ("train", "validation", "test")

# name -> generator(split, **kwargs) -> SpikeData
DATASETS: dict[str, Callable[..., SpikeData]] = {
    "yinyang": yinyang,
    "digits": digits,
}


def _check(name: str, split: str | None = None) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")


def path_for(name: str, split: str, root: str | os.PathLike) -> Path:
    """Where :func:`prepare` writes and :func:`load` looks for a split: ``root/<name>/<split>.h5``."""
    _check(name, split)
    return Path(root) / name / f"{split}.h5"


def load(name: str, split: str, root: str | os.PathLike | None = None, **kwargs) -> SpikeData:
    """Split ``split`` of dataset ``name``; ``kwargs`` go to the generator (e.g. ``n``, ``seed``, ``t_max``).

    With ``root`` and an existing ``root/<name>/<split>.h5`` the file is read instead of generating. Keyword
    arguments that are not None must then match the generator parameters recorded in the file's
    ``meta["params"]``; a mismatch raises ``ValueError`` rather than silently returning other data.
    """
    _check(name, split)
    if root is not None:
        path = path_for(name, split, root)
        if path.exists():
            data = SpikeData.load(path)
            recorded = data.meta.get("params", {})
            for key, value in kwargs.items():
                if value is not None and recorded.get(key) != value:
                    raise ValueError(
                        f"{path} was generated with {key}={recorded.get(key)!r}, not {value!r}; "
                        "delete it or load without root"
                    )
            return data
    return DATASETS[name](split, **kwargs)


def prepare(name: str, root: str | os.PathLike) -> list[Path]:
    """Generate every split of ``name`` with default parameters, save it under ``root``, return the paths."""
    _check(name)
    return [DATASETS[name](split).save(path_for(name, split, root)) for split in SPLITS]
