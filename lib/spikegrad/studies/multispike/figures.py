"""Figures of the multi-spike study (Bacho & Chu, "Exact error backpropagation through spikes", arXiv 2212.09500):
single- vs multi-spike networks' validation accuracy, silent neurons and spikes per layer, and decision latency
against epoch, their training time per epoch, and the convergence heatmaps over initial weight distributions.

The history figures take the stacked per-epoch table (``history.csv`` of the study's tables: columns dataset,
variant, seed, epoch and the ``val_*`` statistics of :class:`spikegrad.train.EventTask`), with one panel per dataset
and one colour per variant, mean ± sd over seeds; :func:`time_per_epoch` takes the run table and
:func:`convergence_heatmap` the table of :mod:`spikegrad.studies.multispike.convergence`. Each returns a matplotlib
Figure; style and
backend come from :mod:`spikegrad.plots`."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spikegrad.plots import fixed_colours, ordered, save, set_style
from spikegrad.plots import mean_band as _band
from spikegrad.plots import require_columns as _require

VARIANT_ORDER = ("single", "multi", "multi-conv")
LAYER_STYLES = ("-", "--", ":", "-.")
CONVERGENCE_PANELS = (("spike_count", "multi-spike (spike count, K = 10)"), ("ttfs", "single-spike (TTFS, K = 1)"))


def _layers(df: pd.DataFrame, statistic: str) -> list[int]:
    """The layers k with a ``val_<statistic>_l<k>`` column, ascending."""
    pattern = re.compile(rf"val_{statistic}_l(\d+)$")
    return sorted(int(m.group(1)) for c in df if (m := pattern.match(c)))


def _per_dataset(history: pd.DataFrame, draw, ylabel: str, width: float = 3.6) -> plt.Figure:
    """One panel per dataset; ``draw(ax, rows of one variant, colour, variant)`` draws its lines."""
    set_style()
    datasets = sorted(history["dataset"].unique())
    variants = ordered(history["variant"], VARIANT_ORDER)
    colours = fixed_colours(variants, VARIANT_ORDER)
    fig, axes = plt.subplots(1, len(datasets), figsize=(width * len(datasets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        rows = history[history["dataset"] == name]
        for variant in variants:
            if (rows["variant"] == variant).any():
                draw(ax, rows[rows["variant"] == variant], colours[variant], variant)
        ax.set(title=name, xlabel="epoch", ylabel=ylabel)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def accuracy_vs_epoch(history: pd.DataFrame) -> plt.Figure:
    """Validation accuracy vs epoch, one line per variant (mean ± sd over seeds), one panel per dataset."""
    _require(history, ["dataset", "variant", "seed", "epoch", "val_accuracy"])

    def draw(ax, rows, colour, variant):
        _band(ax, rows, "val_accuracy", 100.0, color=colour, label=variant)
        ax.set_ylim(0, 100)

    return _per_dataset(history, draw, "validation accuracy (%)")


def _per_layer(history: pd.DataFrame, statistic: str, scale: float, ylabel: str, log: bool) -> plt.Figure:
    layers = _layers(history, statistic)
    if not layers:
        raise ValueError(f"history holds no val_{statistic}_l<k> column")
    _require(history, ["dataset", "variant", "seed", "epoch"])

    def draw(ax, rows, colour, variant):
        for k in layers:
            style = LAYER_STYLES[(k - 1) % len(LAYER_STYLES)]
            _band(ax, rows, f"val_{statistic}_l{k}", scale, color=colour, ls=style, label=f"{variant}, layer {k}")
        if log:
            ax.set_yscale("symlog", linthresh=1.0)
        else:
            ax.set_ylim(bottom=0)

    return _per_dataset(history, draw, ylabel, width=4.2)


def silent_neurons(history: pd.DataFrame) -> plt.Figure:
    """Fraction of neurons that never fire on the validation set (Bacho & Chu's ``SilentNeuronsMonitor``) vs epoch,
    per LIF layer (line style) and variant (colour), mean ± sd over seeds."""
    return _per_layer(history, "silent", 100.0, "silent neurons (%)", log=False)


def spikes_per_layer(history: pd.DataFrame) -> plt.Figure:
    """Spikes per validation sample in each LIF layer (line style) vs epoch, per variant (colour), mean ± sd over
    seeds, on a symmetric-log axis (linear below 1)."""
    return _per_layer(history, "spikes", 1.0, "spikes per sample", log=True)


def decision_latency(history: pd.DataFrame) -> plt.Figure:
    """Decision latency vs epoch: the predicted output neuron's first spike time on the validation set (ms; samples
    where it did not fire left out), per variant, mean ± sd over seeds."""
    _require(history, ["dataset", "variant", "seed", "epoch", "val_latency"])

    def draw(ax, rows, colour, variant):
        _band(ax, rows, "val_latency", color=colour, label=variant)

    return _per_dataset(history, draw, "decision latency (ms)")


def time_per_epoch(runs: pd.DataFrame) -> plt.Figure:
    """Training wall time per epoch (bars: mean ± sd over seeds), grouped by dataset, one bar per variant."""
    _require(runs, ["dataset", "variant", "seed", "seconds_per_epoch"])
    set_style()
    datasets = sorted(runs["dataset"].unique())
    variants = ordered(runs["variant"], VARIANT_ORDER)
    colours = fixed_colours(variants, VARIANT_ORDER)
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(max(3.6, 1.6 * len(datasets) + 1.2), 3.2))
    for j, variant in enumerate(variants):
        stats = runs[runs["variant"] == variant].groupby("dataset")["seconds_per_epoch"].agg(["mean", "std"])
        stats = stats.reindex(datasets)
        x = np.arange(len(datasets)) + (j - (len(variants) - 1) / 2) * width
        ax.bar(x, stats["mean"], width, yerr=stats["std"].fillna(0), capsize=2, color=colours[variant], label=variant)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set(ylabel="training time per epoch (s)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def convergence_heatmap(table: pd.DataFrame) -> plt.Figure:
    """Mean best training accuracy (%) of the toy task of :mod:`spikegrad.studies.multispike.convergence` per initial
    weight mean
    (x) and sd (y) of w_BATS, multi-spike (spike count) and single-spike (TTFS) panels; the values are written in
    the cells of grids up to 8 × 8."""
    _require(table, ["variant", "mean", "std", "accuracy"])
    panels = [(v, title) for v, title in CONVERGENCE_PANELS if (table["variant"] == v).any()]
    if not panels:
        raise ValueError(f"convergence table holds none of the variants {[v for v, _ in CONVERGENCE_PANELS]}")
    set_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.8, 3.8), squeeze=False, sharey=True)
    for ax, (variant, title) in zip(axes[0], panels, strict=True):
        grid = table[table["variant"] == variant].pivot(index="std", columns="mean", values="accuracy") * 100
        image = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", vmin=50, vmax=100, aspect="auto")
        ticks = [f"{v:g}" for v in grid.columns], [f"{v:g}" for v in grid.index]
        step = max(1, len(grid.columns) // 7)
        ax.set_xticks(range(0, len(grid.columns), step), ticks[0][::step])
        ax.set_yticks(range(0, len(grid.index), step), ticks[1][::step])
        ax.grid(False)
        if grid.shape[0] <= 8 and grid.shape[1] <= 8:
            for (i, j), value in np.ndenumerate(grid.to_numpy()):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize="x-small",
                        color="white" if value < 75 else "black")  # fmt: skip
        ax.set(title=title, xlabel="initial weight mean")
    axes[0, 0].set_ylabel("initial weight sd")
    fig.colorbar(image, ax=axes[0].tolist(), label="mean best accuracy (%)")
    return fig


def save_all(history: pd.DataFrame, runs: pd.DataFrame, output) -> None:
    """Save the study's figures of the selected learning rate of each experiment (the ``selected`` rows of the
    history and run tables): ``output.accuracy``, ``.silent``, ``.spikes``, ``.latency`` and ``.time``."""
    history, runs = history.query("selected"), runs.query("selected")
    save(accuracy_vs_epoch(history), output.accuracy)
    save(silent_neurons(history), output.silent)
    save(spikes_per_layer(history), output.spikes)
    save(decision_latency(history), output.latency)
    save(time_per_epoch(runs), output.time)
