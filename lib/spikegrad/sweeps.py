"""Sweep tables (TSV, one run per row) read and checked before the workflow expands them."""

import math
from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd

from spikegrad.losses import LOSSES, SPIKE_TIME_LOSSES


class SweepError(ValueError):
    """A malformed sweep table; the message names the file, row and column."""


def _choice(options: Collection[str]) -> Callable[[str], str | None]:
    return lambda v: None if v in options else f"must be one of {sorted(options)}"


def _positive_number(v: str) -> str | None:
    try:
        ok = math.isfinite(float(v)) and float(v) > 0
    except ValueError:
        ok = False
    return None if ok else "must be a positive finite number"


def _integer(minimum: int) -> Callable[[str], str | None]:
    return lambda v: None if v.isdigit() and int(v) >= minimum else f"must be an integer >= {minimum}"


def _read(path: Path, checks: dict[str, Callable[[str], str | None]]) -> pd.DataFrame:
    """The table at ``path`` with exactly the columns of ``checks``; each check returns an error text or None."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: sweep table not found")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SweepError(f"{path}: not a tab-separated table ({err})") from None
    if list(table.columns) != list(checks):
        raise SweepError(f"{path}: columns must be {list(checks)}, got {list(table.columns)}")
    if table.empty:
        raise SweepError(f"{path}: no runs")
    for row, entry in table.iterrows():
        for column, check in checks.items():
            problem = check(entry[column])
            if problem:
                raise SweepError(f"{path} row {row + 2}: {column} {problem}, got {entry[column]!r}")
    if table.duplicated().any():
        raise SweepError(f"{path}: duplicate rows {list(table.index[table.duplicated()] + 2)}")
    return table


def read_sweep(path: Path, datasets: list[str]) -> pd.DataFrame:
    """Read a training sweep with columns dataset, lr, seed; raise :class:`SweepError` on any bad entry."""
    return _read(path, {"dataset": _choice(datasets), "lr": _positive_number, "seed": _integer(0)})


def read_eventprop_sweep(path: Path, experiments: Collection[str], augmentations: Collection[str]) -> pd.DataFrame:
    """Read an EventProp sweep: experiment, loss, recurrent (True/False), augment, lr, epochs, seed."""
    checks = {
        "experiment": _choice(experiments),
        "loss": _choice([*LOSSES, *SPIKE_TIME_LOSSES]),
        "recurrent": _choice(["True", "False"]),
        "augment": _choice(augmentations),
        "lr": _positive_number,
        "epochs": _integer(1),
        "seed": _integer(0),
    }
    return _read(path, checks)
