"""Result files: atomic writes (a file either holds its complete content or does not exist), the claim a
training run holds on its directory, and loading every run of a study into one table. A run directory is complete
only when its ``metrics.json`` exists."""

import contextlib
import fcntl
import json
import math
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

import spikegrad
from spikegrad.atomic import atomic_write


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _finite_json(obj):
    """Reject NaN/inf: a result that holds them is not a result."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"refusing to write a non-finite number ({obj}) to a results file")
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_json(v) for v in obj]
    return obj


def write_json(path: Path, obj) -> Path:
    return write_text(path, json.dumps(_finite_json(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> Path:
    """safetensors file with an optional JSON-serialisable ``metadata`` dict (stored as one JSON string)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {"json": json.dumps(metadata)} if metadata is not None else None
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Inverse of :func:`save_tensors`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return load_file(str(path)), (json.loads(meta["json"]) if "json" in meta else None)


@contextlib.contextmanager
def claim_run_dir(out_dir: Path, final: str = "metrics.json") -> Iterator[Path]:
    """Hold an exclusive lock on ``out_dir/.lock`` while a run writes into ``out_dir`` (released by the kernel
    even when the process is killed). A second process waits for the first (e.g. a job resubmitted while the
    killed workflow's job still runs). On entry it removes ``final``, so that the directory looks complete only
    once this run rewrites it, and the temporary files of writers killed mid-write (see
    :func:`spikegrad.atomic.atomic_write`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            print(f"waiting for process {lock.read().strip() or '?'} to finish its run in {out_dir}", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        (out_dir / final).unlink(missing_ok=True)
        for leftover in out_dir.glob(".*.tmp"):
            leftover.unlink()
        yield out_dir


def versions() -> dict[str, str]:
    """Library and platform versions recorded with every run."""
    import numpy

    return {
        "spikegrad": spikegrad.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_parameters(run_dir: Path, root: Path) -> dict:
    """Parameters spelled in the run's path, each of its sweep column's type (:func:`spikegrad.sweeps.typed`),
    e.g. ``dataset~yinyang/lr~0.01/seed~0`` -> {dataset: "yinyang", lr: 0.01, seed: 0}."""
    from spikegrad.sweeps import typed

    parts = [part.split("~", 1) for part in Path(run_dir).relative_to(root).parts if "~" in part]
    return typed(dict(parts))


def load_runs(root: Path, paths: list[Path] | None = None, filename: str = "metrics.json") -> pd.DataFrame:
    """One row per run: the parameters spelled in its path below ``root`` plus the scalar entries of its
    ``metrics.json`` (``paths``: those files; default: every one under ``root``)."""
    root = Path(root)
    paths = sorted(root.rglob(filename)) if paths is None else [Path(p) for p in paths]
    if not paths:
        raise FileNotFoundError(f"no {filename} under {root}: no run has finished")
    rows = []
    for path in paths:
        metrics = read_json(path)
        row = run_parameters(path.parent, root)
        row.update({k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)})
        row["run_dir"] = str(path.parent)
        rows.append(row)
    return pd.DataFrame(rows)


def load_histories(root: Path, paths: list[Path]) -> pd.DataFrame:
    """All ``history.csv`` files in ``paths`` stacked, with the parameters spelled in each run's path."""
    frames = [pd.read_csv(p).assign(**run_parameters(Path(p).parent, Path(root))) for p in paths]
    return pd.concat(frames, ignore_index=True)


def write_run_tables(root: Path, metrics: list, histories: list, output, by: list[str], columns: list[str]):
    """Write a study's run table (:func:`load_runs`) to ``output.runs``, the stacked histories
    (:func:`load_histories`) to ``output.history`` and the mean ± sd of ``columns`` over the seeds of each ``by``
    group (:func:`summarise`) to ``output.summary``; return the runs."""
    runs = load_runs(root, metrics)
    write_text(output.runs, runs.to_csv(index=False))
    write_text(output.history, load_histories(root, histories).to_csv(index=False))
    write_text(output.summary, summarise(runs, by, columns).to_csv(index=False))
    return runs


def summarise(runs: pd.DataFrame, by: list[str], columns: list[str], seed: str = "seed") -> pd.DataFrame:
    """Mean (``<column>_mean``) and sample sd (``<column>_sd``, empty for one seed) of ``columns`` over the
    seeds of each ``by`` group, and the number of ``seeds``. Raises ValueError if a group holds one seed twice
    (its runs differ in a column missing from ``by``, so averaging them would mix configurations)."""
    repeated = runs.duplicated([*by, seed], keep=False)
    if repeated.any():
        raise ValueError(f"several runs share {[*by, seed]} = {runs.loc[repeated, [*by, seed]].iloc[0].tolist()}")
    grouped = runs.groupby(list(by), sort=True, dropna=False)
    table = grouped[list(columns)].agg(["mean", "std"])
    table.columns = [f"{column}_{'sd' if stat == 'std' else stat}" for column, stat in table.columns]
    return table.assign(seeds=grouped.size()).reset_index()


def label_experiments(table: pd.DataFrame, experiments: dict[str, dict], section: str) -> pd.DataFrame:
    """Add to ``table`` (with an ``experiment`` column) every entry of its experiment's dict in ``experiments``
    (e.g. dataset, variant); ValueError for experiments missing from the config's ``section``."""
    unknown = sorted(set(table["experiment"]) - set(experiments))
    if unknown:
        raise ValueError(f"runs of experiments {unknown} are not in the config's {section}")
    for key in sorted({k for e in experiments.values() for k in e}):
        table[key] = table["experiment"].map({name: e.get(key) for name, e in experiments.items()})
    return table


def select_best(summary: pd.DataFrame, by: str, score: str, tried: str) -> pd.DataFrame:
    """``summary`` with a boolean ``selected`` column marking, per ``by`` group, the row of highest ``score`` (the
    first on ties), and ``<tried>s_tried``: how many values of ``tried`` the group compared."""
    best = summary.groupby(by, sort=False)[score].transform("max")
    first = summary[summary[score] == best].drop_duplicates(by).index
    return summary.assign(
        selected=summary.index.isin(first), **{f"{tried}s_tried": summary.groupby(by)[tried].transform("nunique")}
    )


def benchmark_times(root: Path) -> pd.DataFrame:
    """Per rule, the jobs and their wall-clock seconds (total, mean, max) from the Snakemake benchmark files
    ``root/<rule>.tsv`` and ``root/<rule>/<wildcards>.tsv``, longest total first."""
    root = Path(root)
    rows = [
        {"rule": p.relative_to(root).parts[0].removesuffix(".tsv"), "seconds": pd.read_csv(p, sep="\t")["s"].sum()}
        for p in sorted(root.rglob("*.tsv"))
    ]
    if not rows:
        raise FileNotFoundError(f"no benchmark files under {root}")
    table = pd.DataFrame(rows).groupby("rule")["seconds"].agg(jobs="count", total_s="sum", mean_s="mean", max_s="max")
    return table.sort_values("total_s", ascending=False).reset_index()
