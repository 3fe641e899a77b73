"""Figures of the surrogate-gradient (SG) study (Herranz-Celotti & Rouat, "Stabilizing Spiking Neuron Training",
arXiv 2202.00282): accuracy vs learning rate per SG shape with the task's sensitivity, sweeps of dampening γ,
sharpness β and tail fatness q with the stability conditions' predictions, the conditions ablation, and accuracy vs
firing rate. Each function takes the run table of one experiment (``runs.csv``, as from
:func:`spikegrad.results.load_runs`) and returns a matplotlib Figure; style and backend come from
:mod:`spikegrad.plots`."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import pearsonr

from spikegrad.plots import fixed_colours, of_experiment, ordered, set_style

SHAPE_ORDER = ("triangular", "exponential", "gaussian", "sigmoid", "fast_sigmoid", "rectangular", "q_pseudospike")
CONDITION_ORDER = ("none", "I", "II", "III", "IV", "I+II", "I+II+III", "I+II+III+IV")
SWEEPS = {  # swept SG parameter: (axis label, the condition that predicts it)
    "dampening": ("dampening γ", "condition III"),
    "sharpness": ("sharpness β", "condition IV"),
    "tail": ("tail fatness q", "condition IV (tail)"),
}
SPLITS = (("best_val_accuracy", "validation"), ("test_accuracy", "test"))
SPARSITY_GROUPS = ((False, "no sparsity loss"), (True, "sparsity loss"))


def _require(runs: pd.DataFrame, columns) -> None:
    """Raise ValueError if ``runs`` is empty or lacks any of ``columns`` or holds NaN in them."""
    if runs.empty:
        raise ValueError("empty runs table")
    bad = [c for c in columns if c not in runs or runs[c].isna().any()]
    if bad:
        raise ValueError(f"runs table lacks, or has NaN in, the columns {bad}")


def _mean_band(ax: plt.Axes, df: pd.DataFrame, x: str, y: str, spread: float = 1.0, **line) -> None:
    """Mean of ``y`` (×100) over runs vs ``x``, with a band of ±``spread``·sd where more than one run has the x."""
    stats = df.groupby(x)[y].agg(["mean", "std", "count"])
    (drawn,) = ax.plot(stats.index, 100 * stats["mean"], **line)
    band = stats[stats["count"] > 1]
    if len(band):
        lower, upper = 100 * (band["mean"] - spread * band["std"]), 100 * (band["mean"] + spread * band["std"])
        ax.fill_between(band.index, lower, upper, color=drawn.get_color(), alpha=0.2, lw=0)


def _minmax(values: pd.Series) -> pd.Series:
    """``values`` scaled to [0, 1] by their min and max; all 0 when they are constant."""
    span = values.max() - values.min()
    return (values - values.min()) / (span if span > 0 else 1.0)


def sensitivity(runs: pd.DataFrame, column: str = "test_accuracy") -> float:
    """The paper's sensitivity of a task to the SG shape: ``column`` min-max normalised over all runs of the
    experiment, its sample sd over the shapes and seeds at each learning rate, averaged over the learning rates
    (0: every shape and seed scores the same at each rate)."""
    _require(runs, ["lr", column])
    return float(_minmax(runs[column]).groupby(runs["lr"]).std().mean())


def robustness(runs: pd.DataFrame, column: str = "test_accuracy") -> pd.Series:
    """Per shape: ``column`` min-max normalised over the shapes and seeds at each learning rate, averaged over the
    shape's seeds, then over the learning rates (1: best at every rate)."""
    _require(runs, ["shape", "lr", column])
    scaled = runs.groupby("lr")[column].transform(_minmax)
    return scaled.groupby([runs["shape"], runs["lr"]]).mean().groupby(level="shape").mean()


def accuracy_vs_lr(runs: pd.DataFrame, title: str) -> plt.Figure:
    """Test accuracy vs learning rate, one line per SG shape (mean ± sd/2 over seeds, the paper's spread), and the
    shapes' :func:`robustness` as bars; the task's :func:`sensitivity` goes in the title."""
    _require(runs, ["shape", "lr", "seed", "test_accuracy"])
    set_style()
    shapes = ordered(runs["shape"], SHAPE_ORDER)
    colours = fixed_colours(shapes, SHAPE_ORDER)
    fig, (ax_lr, ax_bar) = plt.subplots(1, 2, figsize=(9.0, 3.4), width_ratios=(2, 1))
    for shape in shapes:
        df = runs[runs["shape"] == shape]
        _mean_band(ax_lr, df, "lr", "test_accuracy", spread=0.5, color=colours[shape], marker="o", label=shape)
    ax_lr.set(xscale="log", xlabel="learning rate", ylabel="test accuracy (%)")
    ax_lr.legend(fontsize="small")
    ax_bar.bar(range(len(shapes)), robustness(runs).reindex(shapes), color=[colours[s] for s in shapes])
    ax_bar.set_xticks(range(len(shapes)), shapes, rotation=30, ha="right", rotation_mode="anchor")
    ax_bar.set(ylabel="robustness", ylim=(0, 1))
    fig.suptitle(f"{title}: sensitivity {sensitivity(runs):.3f}")
    fig.tight_layout()
    return fig


def sensitivity_summary(runs_by_experiment: dict[str, pd.DataFrame]) -> plt.Figure:
    """Bars of the :func:`sensitivity` of each learning-rate experiment, labelled by the dict's keys."""
    if not runs_by_experiment:
        raise ValueError("no learning-rate experiments to compare")
    set_style()
    names = list(runs_by_experiment)
    values = [sensitivity(runs) for runs in runs_by_experiment.values()]
    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.8 * len(names)), 3.2))
    ax.bar(range(len(names)), values, width=0.6, color="C3")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", rotation_mode="anchor")
    ax.set(ylabel="sensitivity to the SG shape")
    fig.tight_layout()
    return fig


def parameter_sweep(runs: pd.DataFrame, parameter: str, title: str) -> plt.Figure:
    """Best validation and test accuracy vs the swept SG ``parameter`` (dampening, sharpness or tail), one line per
    shape (mean ± sd over seeds), and a dashed line at the mean of the conditions' ``predicted_<parameter>`` (left
    out when no run has one). Tail fatness q goes on a log axis."""
    if parameter not in SWEEPS:
        raise ValueError(f"unknown SG parameter {parameter!r}; expected one of {list(SWEEPS)}")
    _require(runs, ["shape", parameter, "seed", *(column for column, _ in SPLITS)])
    set_style()
    axis_label, condition = SWEEPS[parameter]
    shapes = ordered(runs["shape"], SHAPE_ORDER)
    colours = fixed_colours(shapes, SHAPE_ORDER)
    predicted = f"predicted_{parameter}"
    prediction = runs[predicted].mean() if predicted in runs else np.nan
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4), sharex=True, sharey=True)
    for ax, (column, split) in zip(axes, SPLITS, strict=True):
        for shape in shapes:
            df = runs[runs["shape"] == shape]
            _mean_band(ax, df, parameter, column, color=colours[shape], marker="o", label=shape)
        if np.isfinite(prediction):
            ax.axvline(prediction, color="k", ls="--", lw=1, label=condition)
        ax.set(title=split, xlabel=axis_label, xscale="log" if parameter == "tail" else "linear")
    axes[0].set(ylabel="accuracy (%)")
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def conditions_ablation(runs: pd.DataFrame, title: str) -> plt.Figure:
    """Best validation and test accuracy per set of stability conditions applied (bars: mean ± sd over seeds), in
    the paper's order, other sets after it in table order."""
    _require(runs, ["conditions", "seed", *(column for column, _ in SPLITS)])
    set_style()
    conditions = runs["conditions"].astype(str)
    names = ordered(conditions, CONDITION_ORDER)
    width = 0.8 / len(SPLITS)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(names) + 1.6), 3.4))
    for j, (column, split) in enumerate(SPLITS):
        stats = runs.groupby(conditions)[column].agg(["mean", "std"]).reindex(names)
        x = np.arange(len(names)) + (j - (len(SPLITS) - 1) / 2) * width
        sd = 100 * stats["std"].fillna(0)
        ax.bar(x, 100 * stats["mean"], width, yerr=sd, capsize=2, color=f"C{j}", label=split)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", rotation_mode="anchor")
    ax.set(title=title, xlabel="conditions applied", ylabel="accuracy (%)", ylim=(0, 100))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _layers(runs: pd.DataFrame) -> list[int]:
    """The hidden layers k (from 1) whose initial rate ``rate_initial_l<k>`` the table holds."""
    return sorted(int(c.removeprefix("rate_initial_l")) for c in runs if c.startswith("rate_initial_l"))


def _pearson_label(name: str, x: pd.Series, y: pd.Series) -> tuple[str, bool]:
    """``name`` with Pearson's r of (x, y) where it is defined (≥ 3 points, neither constant), and whether p < 0.05."""
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return name, False
    r, p = pearsonr(x, y)
    return f"{name}: r = {r:.2f}", bool(p < 0.05)


def _rate_panel(ax: plt.Axes, runs: pd.DataFrame, column: str) -> None:
    """Test accuracy vs ``column``, one colour per sparsity-loss group, each with its r in the legend (bold if
    significant)."""
    sparse = runs["sparsity"] > 0
    significant = []
    for j, (flag, name) in enumerate(SPARSITY_GROUPS):
        group = runs[sparse == flag]
        if len(group):
            label, bold = _pearson_label(name, group[column], group["test_accuracy"])
            ax.scatter(group[column], 100 * group["test_accuracy"], s=14, alpha=0.7, color=f"C{j}", label=label)
            significant.append(bold)
    legend = ax.legend(fontsize="small")
    for text, bold in zip(legend.get_texts(), significant, strict=True):
        text.set_fontweight("bold" if bold else "normal")


def rate_scatter(runs: pd.DataFrame, title: str) -> plt.Figure:
    """Test accuracy vs each hidden layer's firing rate (spike probability per step) at the start of training and
    of the selected trained net, one panel per (layer, initial/final), coloured by whether the sparsity loss was on;
    Pearson r per group in the legend, bold where p < 0.05."""
    layers = _layers(runs)
    if not layers:
        raise ValueError("runs table holds no rate_initial_l<k> column")
    stages = ("initial", "final")
    _require(runs, ["sparsity", "test_accuracy", *(f"rate_{stage}_l{k}" for k in layers for stage in stages)])
    set_style()
    fig, axes = plt.subplots(len(layers), 2, figsize=(7.6, 3.2 * len(layers)), sharey=True, squeeze=False)
    for row, k in enumerate(layers):
        for ax, stage in zip(axes[row], stages, strict=True):
            _rate_panel(ax, runs, f"rate_{stage}_l{k}")
            ax.set(title=f"layer {k}, {stage}", xlabel=f"{stage} firing rate (spikes per step)")
        axes[row, 0].set(ylabel="test accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure(runs: pd.DataFrame, kind: str, experiment: str | None = None, experiments=()) -> plt.Figure:
    """One figure of the study from its run table: for one ``experiment``, accuracy vs learning rate (``lr``), an
    SG-parameter sweep (a key of :data:`SWEEPS`), the conditions ablation (``conditions``) or accuracy vs firing
    rate (``sparsity``); or the shape sensitivity of several learning-rate ``experiments`` (``sensitivity``)."""
    if kind == "sensitivity":
        return sensitivity_summary({name: of_experiment(runs, name) for name in experiments})
    one = {"lr": accuracy_vs_lr, "conditions": conditions_ablation, "sparsity": rate_scatter}
    if kind in SWEEPS:
        return parameter_sweep(of_experiment(runs, experiment), parameter=kind, title=experiment)
    if kind not in one:
        raise ValueError(f"unknown figure kind {kind!r}; expected 'sensitivity' or one of {[*one, *SWEEPS]}")
    return one[kind](of_experiment(runs, experiment), title=experiment)
