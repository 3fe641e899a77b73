"""Workflow inputs checked before any job: the config against its schema, and the sweep tables (TSV, one run per
row) before the workflow expands them. Every problem raises one line naming the file and entry."""

import math
from collections.abc import Callable, Collection
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from spikegrad.losses import GRID_LOSSES
from spikegrad.studies.surrogate.stability import CONDITIONS
from spikegrad.surrogate import SURROGATES


class SweepError(ValueError):
    """A malformed sweep table; the message names the file, row and column."""


def _bool(v: str) -> bool:
    if v not in ("True", "False"):
        raise ValueError(f"expected True or False, got {v!r}")
    return v == "True"


def _float_or(word: str) -> Callable[[str], float | str]:
    return lambda v: word if v == word else float(v)


# The type of every sweep column, one parser each from its spelling in a sweep table and in a run's path
# (``column~value``), used both ways: by the rules (:func:`typed`) and by the result tables
# (:func:`spikegrad.results.run_parameters`). The word "none" (no initial-rate adjustment) stays a word and "inf"
# (no active-set band) is the float ∞; the rules map both to None.
COLUMN_TYPES: dict[str, Callable[[str], object]] = {
    **dict.fromkeys(("dataset", "experiment", "loss", "augment", "shape", "conditions", "engine"), str),
    "recurrent": _bool,
    **dict.fromkeys(("lr", "dampening", "sharpness", "tail", "sparsity"), float),
    **dict.fromkeys(("epochs", "seed"), int),
    "initial_rate": _float_or("none"),
    "band": float,
}


def typed(run: dict) -> dict:
    """A sweep row (or path parameters) with each value parsed by its column's type (:data:`COLUMN_TYPES`)."""
    unknown = sorted(set(run) - set(COLUMN_TYPES))
    if unknown:
        raise SweepError(f"sweep columns {unknown} have no type in spikegrad.sweeps.COLUMN_TYPES")
    return {column: COLUMN_TYPES[column](value) for column, value in run.items()}


def _choice(options: Collection[str]) -> Callable[[str], str | None]:
    return lambda v: None if v in options else f"must be one of {sorted(options)}"


def _positive_number(v: str) -> str | None:
    try:
        ok = math.isfinite(float(v)) and float(v) > 0
    except ValueError:
        ok = False
    return None if ok else "must be a positive finite number"


def _number_in(low: float, high: float, closed: bool) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        inside = low <= x <= high if closed else low < x < high
        return None if inside else f"must be a number in {'[' if closed else '('}{low}, {high}{']' if closed else ')'}"

    return check


def _conditions(v: str) -> str | None:
    """ "none" or stability conditions joined by "+" (e.g. I+II+III+IV), each at most once."""
    names = v.split("+")
    ok = v == "none" or (set(names) <= set(CONDITIONS) and len(set(names)) == len(names))
    return None if ok else f"must be 'none' or some of {list(CONDITIONS)} joined by '+'"


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
        "loss": _choice(GRID_LOSSES),
        "recurrent": _choice(["True", "False"]),
        "augment": _choice(augmentations),
        "lr": _positive_number,
        "epochs": _integer(1),
        "seed": _integer(0),
    }
    return _read(path, checks)


def read_surrogate_sweep(path: Path, experiments: Collection[str]) -> pd.DataFrame:
    """Read a surrogate-gradient sweep: experiment, shape, lr, dampening, sharpness, tail (q > 1), conditions,
    initial_rate ("none" or a spike probability), sparsity (weight ≥ 0), epochs, seed."""
    rate = _number_in(0.0, 1.0, closed=False)
    checks = {
        "experiment": _choice(experiments),
        "shape": _choice(SURROGATES),
        "lr": _positive_number,
        "dampening": _positive_number,
        "sharpness": _positive_number,
        "tail": _number_in(1.0, math.inf, closed=False),
        "conditions": _conditions,
        "initial_rate": lambda v: None if v == "none" else rate(v),
        "sparsity": _number_in(0.0, math.inf, closed=True),
        "epochs": _integer(1),
        "seed": _integer(0),
    }
    return _read(path, checks)


def read_multispike_sweep(path: Path, experiments: Collection[str]) -> pd.DataFrame:
    """Read a multi-spike sweep: experiment (a block of ``multispike.experiments`` in config.yaml, which holds
    every network and training setting), lr (replacing the block's), seed."""
    return _read(path, {"experiment": _choice(experiments), "lr": _positive_number, "seed": _integer(0)})


def read_sparse_sweep(path: Path, experiments: Collection[str]) -> pd.DataFrame:
    """Read a sparse-backprop sweep: experiment (a block of ``sparse.experiments`` in config.yaml), engine (bptt or
    sparse), band (B_th: a positive number, or inf; dense BPTT rows must say inf), seed."""
    table = _read(
        path,
        {
            "experiment": _choice(experiments),
            "engine": _choice(["bptt", "sparse"]),
            "band": lambda v: None if v == "inf" else _positive_number(v),
            "seed": _integer(0),
        },
    )
    dense_with_band = table.index[(table["engine"] == "bptt") & (table["band"] != "inf")]
    if len(dense_with_band):
        raise SweepError(f"{path} row {dense_with_band[0] + 2}: engine bptt has no active set, so band must be inf")
    return table


STUDIES = ("eventprop", "surrogate", "multispike", "sparse")  # config blocks whose experiments name a dataset


def _leaves(entry, where: str = ""):
    """(dotted path, value) of every scalar in a nested config."""
    items = entry.items() if isinstance(entry, dict) else enumerate(entry) if isinstance(entry, list) else None
    if items is None:
        yield where or "top level", entry
        return
    for key, value in items:
        yield from _leaves(value, f"{where}.{key}" if where else str(key))


def check_config(config: dict, schema_path: Path) -> None:
    """Raise :class:`SweepError` with one line naming the config entry that breaks the JSON schema at
    ``schema_path``, e.g. ``config.yaml: datasets.yinyang.batch_size: 0 is less than the minimum of 1``: the deepest
    error, before the "unevaluated properties" that a failing ``allOf`` branch adds above it."""
    for where, value in _leaves(config):
        if isinstance(value, float) and math.isnan(value):  # NaN passes every JSON-schema bound
            raise SweepError(f"config.yaml: {where}: NaN is not a value")
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
    if errors:
        deepest = max(errors, key=lambda e: (e.validator != "unevaluatedProperties", len(e.absolute_path)))
        error = jsonschema.exceptions.best_match([deepest])  # into anyOf/oneOf branches
        where = ".".join(str(key) for key in error.absolute_path) or "top level"
        raise SweepError(f"config.yaml: {where}: {error.message}")


def check_experiment_datasets(config: dict, known: Collection[str]) -> None:
    """Raise :class:`SweepError` naming the first study experiment of ``config`` whose dataset is not ``known``
    (config.yaml's embedded datasets and the published ones), before any job is scheduled."""
    for study in STUDIES:
        for name, experiment in config.get(study, {}).get("experiments", {}).items():
            dataset = experiment.get("dataset")
            if dataset not in known:
                raise SweepError(
                    f"config.yaml: {study}.experiments.{name}.dataset is {dataset!r}, not a dataset; "
                    f"choose one of {sorted(known)}"
                )
