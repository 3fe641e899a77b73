"""Figures of the sparse-backprop study (Perez-Nieves & Goodman, "Sparse Spiking Gradient Descent", NeurIPS 2021):
the active fraction per layer during training, accuracy of dense vs sparse training, accuracy / speedup / memory
against B_th, and speedup and memory saved against hidden size.

:func:`active_fraction` takes the stacked per-epoch table (columns experiment, engine, band, seed, epoch,
``active_l<k>``), :func:`parity` the run table (experiment, engine, band, seed, test_accuracy), :func:`band_sweep`
the run table and the benchmark JSON of :mod:`spikegrad.bench.sparse`, :func:`scaling` that JSON alone. Each
returns a matplotlib Figure; style and backend come from :mod:`spikegrad.plots`."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spikegrad.plots import fixed_colours, mean_band, require_columns, save, set_style

PAPER_BAND = 0.2  # B_th of the paper's main runs (its code's b_th = 0.8)
# Backward speedup of the second layer on SHD at B_th = 0.2 per hidden size (RTX 6000; recomputed from the result
# pickles of the paper's repository, shared/reference/sg_sparse.md B3), and its range of memory saved.
PAPER_SHD_SPEEDUP = {200: 42.5, 400: 39.7, 600: 35.2, 800: 35.7, 1000: 35.4}
PAPER_SHD_MEMORY_SAVED = (0.29, 0.37)
ENGINE_LABELS = {"bptt": "dense BPTT", "sparse": f"sparse (B_th = {PAPER_BAND})"}


def _layers(df: pd.DataFrame) -> list[int]:
    pattern = re.compile(r"active_l(\d+)$")
    return sorted(int(m.group(1)) for c in df if (m := pattern.match(c)))


def _at_paper_band(df: pd.DataFrame) -> pd.DataFrame:
    """Dense runs and sparse runs at B_th = PAPER_BAND."""
    return df[(df["engine"] == "bptt") | np.isclose(df["band"].astype(float), PAPER_BAND)]


def active_fraction(history: pd.DataFrame) -> plt.Figure:
    """Active fraction |A|/(T·B·N) (%) of each hidden layer vs epoch, one panel per experiment, sparse runs at
    B_th = PAPER_BAND, mean ± sd over seeds."""
    require_columns(history, ["experiment", "engine", "band", "seed", "epoch"])
    rows = _at_paper_band(history[history["engine"] == "sparse"])
    layers = _layers(rows)
    if rows.empty or not layers:
        raise ValueError(f"no sparse runs at B_th = {PAPER_BAND} with active_l<k> columns")
    set_style()
    experiments = sorted(rows["experiment"].unique())
    fig, axes = plt.subplots(1, len(experiments), figsize=(3.6 * len(experiments), 3.2), squeeze=False)
    for ax, name in zip(axes[0], experiments, strict=True):
        for k in layers:
            mean_band(ax, rows[rows["experiment"] == name], f"active_l{k}", 100.0, label=f"layer {k}")
        ax.set(title=name, xlabel="epoch", ylabel="active entries (%)", ylim=(0, None))
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def parity(runs: pd.DataFrame) -> plt.Figure:
    """Test accuracy (%) of dense BPTT and sparse training at B_th = PAPER_BAND per experiment: mean ± sd bars over
    seeds, single seeds as dots."""
    require_columns(runs, ["experiment", "engine", "band", "seed", "test_accuracy"])
    rows = _at_paper_band(runs)
    set_style()
    experiments = sorted(rows["experiment"].unique())
    engines = [e for e in ENGINE_LABELS if (rows["engine"] == e).any()]
    colours = fixed_colours(engines, list(ENGINE_LABELS))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(experiments), 3.2))
    width = 0.8 / max(len(engines), 1)
    for j, engine in enumerate(engines):
        for i, name in enumerate(experiments):
            acc = 100 * rows[(rows["experiment"] == name) & (rows["engine"] == engine)]["test_accuracy"]
            if acc.empty:
                continue
            x = i + (j - (len(engines) - 1) / 2) * width
            sd = acc.std() if len(acc) > 1 else 0.0
            ax.bar(
                x, acc.mean(), width, yerr=sd, color=colours[engine], label=ENGINE_LABELS[engine] if i == 0 else None
            )
            ax.plot(np.full(len(acc), x), acc, "k.", ms=4)
    ax.set_xticks(range(len(experiments)), experiments)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100))
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def _bench_frame(cases: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "hidden": c["hidden"],
                "band": c["band"],
                "backward_speedup": c["backward_speedup"],
                "step_speedup": c["step_speedup"],
                "memory_saved": c["memory_saved"],
                "active_l2": c["sparse"]["active_fraction"][1],
            }
            for c in cases
        ]
    )


def band_sweep(runs: pd.DataFrame, bench: dict) -> plt.Figure:
    """Against B_th (log axis): test accuracy of the experiments with a B_th sweep (sparse runs, mean over seeds;
    dense BPTT dashed), and the benchmark's backward speedup, whole-step speedup and memory saved at
    ``band_hidden`` neurons (B_th = ∞ is left out of the log axis)."""
    require_columns(runs, ["experiment", "engine", "band", "seed", "test_accuracy"])
    cases = [c for c in bench["by_hidden"] + bench["by_band"] if c["band"] is not None]  # None: B_th = ∞
    hidden = bench["by_band"][0]["hidden"] if bench["by_band"] else bench["by_hidden"][0]["hidden"]
    table = _bench_frame([c for c in cases if c["hidden"] == hidden]).sort_values("band")
    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.3))
    sparse_runs = runs[runs["engine"] == "sparse"]
    swept = [n for n, g in sparse_runs.groupby("experiment") if g["band"].nunique() > 1]
    for name in swept:
        acc = sparse_runs[sparse_runs["experiment"] == name].groupby("band")["test_accuracy"].mean() * 100
        (line,) = axes[0].plot(acc.index, acc.values, "o-", label=f"{name}, sparse")
        dense = runs[(runs["experiment"] == name) & (runs["engine"] == "bptt")]["test_accuracy"]
        if len(dense):
            axes[0].axhline(100 * dense.mean(), ls="--", color=line.get_color(), label=f"{name}, dense")
    axes[0].set(xscale="log", xlabel="B_th", ylabel="test accuracy (%)", title="accuracy", ylim=(0, 100))
    if swept:
        axes[0].legend(fontsize="small")
    axes[1].plot(table["band"], table["backward_speedup"], "o-", label="backward (layer 2)")
    axes[1].plot(table["band"], table["step_speedup"], "s-", label="training step")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set(xscale="log", yscale="log", xlabel="B_th", ylabel="dense / sparse time",
                title=f"speedup, {hidden} hidden, {bench['device_name']}")  # fmt: skip
    axes[1].legend(fontsize="small")
    axes[2].plot(table["band"], 100 * table["memory_saved"], "o-", label="memory saved (backward peak)")
    axes[2].plot(table["band"], 100 * table["active_l2"], "^:", label="active entries, layer 2")
    axes[2].set(xscale="log", xlabel="B_th", ylabel="%", title="memory and activity")
    axes[2].legend(fontsize="small")
    bands = sorted(set(table["band"]) | set(sparse_runs["band"][np.isfinite(sparse_runs["band"].astype(float))]))
    for ax in axes:
        ax.set_xticks(bands, [f"{b:g}" for b in bands], minor=False)
        ax.xaxis.set_minor_locator(plt.NullLocator())
    axes[1].yaxis.set_major_formatter(plt.ScalarFormatter())
    fig.tight_layout()
    return fig


def scaling(bench: dict) -> plt.Figure:
    """Against hidden size at B_th = bands[0]: backward speedup of the second layer (with the paper's SHD values),
    whole-step speedup, and memory saved in that layer's backward pass (the paper's range shaded)."""
    if not bench.get("by_hidden"):
        raise ValueError("the benchmark has no hidden-size sweep (by_hidden)")
    table = _bench_frame(bench["by_hidden"]).sort_values("hidden")
    band = table["band"].iloc[0]
    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.3))
    axes[0].plot(table["hidden"], table["backward_speedup"], "o-", label=f"measured ({bench['device_name']})")
    paper = pd.Series(PAPER_SHD_SPEEDUP)
    axes[0].plot(paper.index, paper.values, "x--", color="grey", label="paper, SHD (RTX 6000)")
    axes[0].set(yscale="log", xlabel="hidden neurons", ylabel="dense / sparse time", title="backward, layer 2")
    axes[0].yaxis.set_major_formatter(plt.ScalarFormatter())
    axes[0].legend(fontsize="small")
    axes[1].plot(table["hidden"], table["step_speedup"], "s-")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set(xlabel="hidden neurons", ylabel="dense / sparse time", title="training step")
    axes[2].plot(table["hidden"], 100 * table["memory_saved"], "o-", label="measured")
    axes[2].axhspan(*(100 * v for v in PAPER_SHD_MEMORY_SAVED), color="grey", alpha=0.2, label="paper, SHD")
    axes[2].set(xlabel="hidden neurons", ylabel="memory saved (%)", title="backward peak memory", ylim=(None, 100))
    axes[2].legend(fontsize="small")
    fig.suptitle(f"B_th = {band}, T = {bench['T']}, B = {bench['B']}, {bench['n_in']} inputs", fontsize="medium")
    fig.tight_layout()
    return fig


def save_all(history: pd.DataFrame, runs: pd.DataFrame, bench: dict, output) -> None:
    """Save ``output.active_fraction``, ``.parity``, ``.band`` and ``.scaling`` from the study's tables and the
    benchmark JSON of :mod:`spikegrad.bench.sparse`."""
    save(active_fraction(history), output.active_fraction)
    save(parity(runs), output.parity)
    save(band_sweep(runs, bench), output.band)
    save(scaling(bench), output.scaling)
