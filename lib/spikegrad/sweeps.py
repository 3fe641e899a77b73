"""Sweep tables (TSV, one run per row) read and checked before the workflow expands them."""

import math
from pathlib import Path

import pandas as pd


class SweepError(ValueError):
    """A malformed sweep table; the message names the file, row and column."""


def read_sweep(path: Path, datasets: list[str]) -> pd.DataFrame:
    """Read a training sweep with columns dataset, lr, seed; raise :class:`SweepError` on any bad entry."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: sweep table not found")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SweepError(f"{path}: not a tab-separated table ({err})") from None
    expected = ["dataset", "lr", "seed"]
    if list(table.columns) != expected:
        raise SweepError(f"{path}: columns must be {expected}, got {list(table.columns)}")
    if table.empty:
        raise SweepError(f"{path}: no runs")
    for row, entry in table.iterrows():
        where = f"{path} row {row + 2}"
        if entry["dataset"] not in datasets:
            raise SweepError(f"{where}: unknown dataset {entry['dataset']!r}; configured: {datasets}")
        try:
            lr = float(entry["lr"])
        except ValueError:
            raise SweepError(f"{where}: lr must be a number, got {entry['lr']!r}") from None
        if not (math.isfinite(lr) and lr > 0):
            raise SweepError(f"{where}: lr must be positive and finite, got {entry['lr']!r}")
        if not entry["seed"].isdigit():
            raise SweepError(f"{where}: seed must be a non-negative integer, got {entry['seed']!r}")
    if table.duplicated().any():
        raise SweepError(f"{path}: duplicate rows {list(table.index[table.duplicated()] + 2)}")
    return table
