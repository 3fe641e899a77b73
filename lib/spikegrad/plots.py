"""Figures: one function per figure, each taking a tidy DataFrame and returning a matplotlib Figure.
The non-interactive backend is set here, once; each figure function applies the style (:func:`set_style`).
seaborn is imported where it is used: with scipy it costs about 1.2 s, which every notebook run would otherwise
pay before training."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from spikegrad.atomic import atomic_write  # noqa: E402

STYLE = ["seaborn-v0_8-whitegrid", "seaborn-v0_8-paper", "seaborn-v0_8-colorblind"]  # matplotlib's own copies


def set_style() -> None:
    """seaborn's white-grid paper style with the colour-blind palette, from matplotlib's bundled style sheets."""
    plt.style.use(STYLE)


def colours(n: int) -> list:
    """The first ``n`` colours of the style's cycle (repeating after its 10)."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]


def ordered(values, order) -> list:
    """The distinct ``values``: those in ``order`` first, in that order, then the others in table order."""
    present = list(dict.fromkeys(values))
    return [v for v in order if v in present] + [v for v in present if v not in order]


def fixed_colours(names: list, order) -> dict:
    """One colour per name, the same in every figure: the names in ``order`` keep their colour whether or not a
    table holds them; names outside ``order`` come after it."""
    names = [*order, *(n for n in names if n not in order)]
    set_style()
    return dict(zip(names, colours(len(names)), strict=True))


def require_columns(df: pd.DataFrame, columns) -> None:
    """Raise ValueError if ``df`` is empty or lacks any of ``columns``."""
    if df.empty:
        raise ValueError("empty table")
    missing = [c for c in columns if c not in df]
    if missing:
        raise ValueError(f"table lacks the columns {missing}")


def mean_band(ax: plt.Axes, df: pd.DataFrame, column: str, scale: float = 1.0, **line) -> bool:
    """Mean of ``column`` × ``scale`` over seeds vs epoch, with a ±sd band where more than one seed has the epoch;
    False (nothing drawn) if the column holds no values."""
    values = df[["epoch", column]].dropna()
    if values.empty:
        return False
    stats = values.groupby("epoch")[column].agg(["mean", "std", "count"])
    line.setdefault("marker", ".")
    (drawn,) = ax.plot(stats.index, scale * stats["mean"], **line)
    band = stats[stats["count"] > 1]
    if len(band):
        lower, upper = scale * (band["mean"] - band["std"]), scale * (band["mean"] + band["std"])
        ax.fill_between(band.index, lower, upper, color=drawn.get_color(), alpha=0.2, lw=0)
    return True


def save(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` atomically (format from the suffix) and close it."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:], bbox_inches="tight", dpi=150))
    plt.close(fig)
    return path


def accuracy_vs_lr(runs: pd.DataFrame) -> plt.Figure:
    """Test accuracy vs Adam learning rate, one panel per dataset, mean ± sd over seeds (points: single seeds).

    ``runs`` needs the columns dataset, lr, seed, test_accuracy (as from :func:`spikegrad.results.load_runs`).
    """
    import seaborn as sns

    set_style()
    datasets = sorted(runs["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        df = runs[runs["dataset"] == name].assign(accuracy=lambda d: 100 * d["test_accuracy"])
        sns.lineplot(df, x="lr", y="accuracy", errorbar="sd", marker="o", ax=ax)
        sns.stripplot(df, x="lr", y="accuracy", native_scale=True, color="0.3", size=3, ax=ax)
        chance = 100 / df["n_classes"].iloc[0] if "n_classes" in df else None
        if chance:
            ax.axhline(chance, ls="--", color="0.5", lw=1, label="chance")
            ax.legend(loc="lower right")
        ax.set(xscale="log", title=name, xlabel="learning rate", ylabel="test accuracy (%)", ylim=(0, 100))
    fig.tight_layout()
    return fig


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Validation accuracy vs epoch, one panel per dataset, one line per learning rate (mean ± sd over seeds).

    ``history`` needs the columns dataset, lr, seed, epoch, val_accuracy.
    """
    import seaborn as sns

    set_style()
    datasets = sorted(history["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        df = history[history["dataset"] == name].sort_values("lr")
        df = df.assign(accuracy=100 * df["val_accuracy"], lr=df["lr"].map("{:g}".format))  # one colour per value
        sns.lineplot(df, x="epoch", y="accuracy", hue="lr", errorbar="sd", palette="viridis", ax=ax)
        ax.set(title=name, ylabel="validation accuracy (%)", ylim=(0, 100))
        ax.legend(title="lr", fontsize="small")
    fig.tight_layout()
    return fig


def run_history(history: pd.DataFrame) -> plt.Figure:
    """Loss and accuracy (train and validation) vs epoch of one run (columns as in ``history.csv``)."""
    set_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(7.2, 3.0))
    for split, label in (("train", "train"), ("val", "validation")):
        ax_loss.plot(history["epoch"], history[f"{split}_loss"], marker=".", label=label)
        ax_acc.plot(history["epoch"], 100 * history[f"{split}_accuracy"], marker=".", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
    ax_acc.legend()
    fig.tight_layout()
    return fig


def sample_activity(inputs, hidden, voltage, dt: float) -> plt.Figure:
    """Input raster, hidden raster and (if not None) readout voltages of one sample ([T, N] tensors; ms)."""
    set_style()
    rows = 2 if voltage is None else 3
    fig, axes = plt.subplots(rows, 1, figsize=(6.0, 2.0 * rows), sharex=True)
    for ax, spikes, name in ((axes[0], inputs, "input"), (axes[1], hidden, "hidden")):
        steps, units = spikes.cpu().nonzero(as_tuple=True)
        ax.scatter(steps * dt, units, s=2, color="k")
        ax.set(ylabel=f"{name} neuron")
    if voltage is not None:
        axes[2].plot([n * dt for n in range(voltage.shape[0])], voltage.cpu())
        axes[2].set(ylabel="readout U")
    axes[-1].set(xlabel="time (ms)")
    fig.tight_layout()
    return fig


def spoken_samples(panels: list[dict]) -> plt.Figure:
    """Cochleagram (top) above the spike raster the network sees (bottom), one column per sample.

    Each panel: ``word``, ``envelope`` [K, frames] in dB with ``frame_times`` (s) and ``frequencies`` (Hz),
    and ``spike_times`` (ms) with ``spike_units`` (0 = lowest frequency channel).
    """
    set_style()
    fig, axes = plt.subplots(2, len(panels), figsize=(2.6 * len(panels), 4.6), sharex="col", squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        env, t, f = panel["envelope"], panel["frame_times"] * 1e3, panel["frequencies"]
        top.pcolormesh(t, f, env, shading="nearest", cmap="magma", vmin=env.max() - 60, vmax=env.max(), rasterized=True)
        top.set(yscale="log", title=panel["word"], ylabel="frequency (Hz)" if col == 0 else None)
        bottom.scatter(panel["spike_times"], panel["spike_units"], s=0.3, color="k", rasterized=True)
        bottom.set(xlabel="time (ms)", ylabel="channel" if col == 0 else None, ylim=(0, 700))
    fig.tight_layout()
    return fig


# EventProp study (Nowotny, Turner & Knight, arXiv 2212.01232). Tables as from spikegrad.results.load_runs /
# load_histories of results/<scale>/eventprop/runs: `recurrent` is "True"/"False" (bool once read from CSV).

LOSS_ORDER = ("sum", "sum_weigh_exp", "max", "first_spike_exp")
RUN_KEYS = ("experiment", "loss", "recurrent", "augment", "lr", "epochs", "seed")
SPLITS = (("final_train_accuracy", "final train"), ("best_val_accuracy", "best validation"), ("test_accuracy", "test"))


def _losses(values) -> list[str]:
    """The loss names in ``values``: the paper's order first, then any others alphabetically."""
    present = set(values)
    return [name for name in LOSS_ORDER if name in present] + sorted(present - set(LOSS_ORDER))


def _variant_label(recurrent, augment: str) -> str:
    kind = "recurrent" if str(recurrent) == "True" else "feed-forward"
    return f"{kind}, {'no aug.' if augment == 'none' else augment}"


def _variants(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(recurrent, augment) pairs present, as strings: feed-forward first, no augmentation first."""
    pairs = set(zip(runs["recurrent"].astype(str), runs["augment"].astype(str), strict=True))
    return sorted(pairs, key=lambda p: (p[0] == "True", p[1] != "none", p[1]))


def _of_variant(df: pd.DataFrame, recurrent: str, augment: str) -> pd.DataFrame:
    return df[(df["recurrent"].astype(str) == recurrent) & (df["augment"].astype(str) == augment)]


def _mean_line(ax: plt.Axes, df: pd.DataFrame, y: str, scale: float = 100.0, **line) -> None:
    """Mean of ``y`` over runs vs epoch (×``scale``), with a ±sd band where more than one run has the epoch."""
    stats = df.groupby("epoch")[y].agg(["mean", "std", "count"])
    (drawn,) = ax.plot(stats.index, scale * stats["mean"], **line)
    band = stats[stats["count"] > 1]
    if len(band):
        lower, upper = scale * (band["mean"] - band["std"]), scale * (band["mean"] + band["std"])
        ax.fill_between(band.index, lower, upper, color=drawn.get_color(), alpha=0.2, lw=0)


def _epoch_axis(ax: plt.Axes) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _split_legend(ax: plt.Axes, colours: dict | None = None) -> None:
    """Legend: solid = validation, dashed = train (and one colour per entry of ``colours``)."""
    handles = [Line2D([], [], color="0.3", ls=ls, label=label) for ls, label in (("-", "validation"), ("--", "train"))]
    handles += [Line2D([], [], color=c, label=name) for name, c in (colours or {}).items()]
    ax.legend(handles=handles, fontsize="small")


def training_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Train (dashed) and validation (solid) accuracy vs epoch, one line per run (seed); coloured by loss when
    ``history`` holds several."""
    set_style()
    losses = _losses(history["loss"])
    palette = dict(zip(losses, colours(len(losses)), strict=True))
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    keys = [k for k in RUN_KEYS if k in history]
    for run, df in history.groupby(keys, sort=True):
        df = df.sort_values("epoch")
        colour = palette[dict(zip(keys, run, strict=True))["loss"]]
        ax.plot(df["epoch"], 100 * df["val_accuracy"], color=colour, ls="-", lw=1.2)
        ax.plot(df["epoch"], 100 * df["train_accuracy"], color=colour, ls="--", lw=1.0)
    _split_legend(ax, palette if len(losses) > 1 else None)
    ax.set(title=title, ylabel="accuracy (%)", ylim=(0, 100))
    _epoch_axis(ax)
    fig.tight_layout()
    return fig


def accuracy_per_loss(history: pd.DataFrame, title: str) -> plt.Figure:
    """One panel per loss: train (dashed) and validation (solid) accuracy vs epoch, mean ± sd over the loss's
    runs (seeds)."""
    set_style()
    losses = _losses(history["loss"])
    fig, axes = plt.subplots(1, len(losses), figsize=(3.4 * len(losses), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], losses, strict=True):
        df = history[history["loss"] == name]
        _mean_line(ax, df, "val_accuracy", color="C0", ls="-", label="validation")
        _mean_line(ax, df, "train_accuracy", color="C1", ls="--", label="train")
        ax.set(title=name, ylim=(0, 100))
        _epoch_axis(ax)
    axes[0, 0].set(ylabel="accuracy (%)")
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_comparison(runs: pd.DataFrame, history: pd.DataFrame, title: str) -> plt.Figure:
    """The base-loss comparison, one column per (recurrent, augment) variant. Top: final train, best validation
    and test accuracy per loss (bars: mean ± sd over seeds). Bottom: validation error vs epoch per loss (mean)."""
    set_style()
    losses = _losses(runs["loss"])
    variants = _variants(runs)
    palette = dict(zip(losses, colours(len(losses)), strict=True))
    panel_width = max(4.2, 0.9 * len(losses) + 1.6)
    fig, axes = plt.subplots(2, len(variants), figsize=(panel_width * len(variants), 6.4), squeeze=False)
    width = 0.8 / len(SPLITS)
    for col, (recurrent, augment) in enumerate(variants):
        top, bottom = axes[0, col], axes[1, col]
        cell = _of_variant(runs, recurrent, augment)
        for j, (column, label) in enumerate(SPLITS):
            stats = cell.groupby("loss")[column].agg(["mean", "std"]).reindex(losses)
            x = [i + (j - 1) * width for i in range(len(losses))]
            sd = 100 * stats["std"].fillna(0)
            top.bar(x, 100 * stats["mean"], width, yerr=sd, capsize=2, color=f"C{j}", label=label)
        top.set_xticks(range(len(losses)), losses, rotation=20, ha="right", rotation_mode="anchor")
        top.set(title=_variant_label(recurrent, augment), ylim=(0, 100))
        curves = _of_variant(history, recurrent, augment)
        for name in losses:
            df = curves[curves["loss"] == name]
            if len(df):
                stats = df.groupby("epoch")["val_accuracy"].mean()
                bottom.plot(stats.index, 100 * (1 - stats), color=palette[name], label=name)
        bottom.set(ylim=(0, 100))
        _epoch_axis(bottom)
    axes[0, 0].set(ylabel="accuracy (%)")
    axes[1, 0].set(ylabel="validation error (%)")
    axes[1, 0].legend(fontsize="small")
    fig.suptitle(title)
    fig.legend(
        *axes[0, 0].get_legend_handles_labels(),
        loc="upper center",
        ncol=len(SPLITS),
        fontsize="small",
        bbox_to_anchor=(0.5, 0.955),
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def gradient_flow(table: pd.DataFrame) -> plt.Figure:
    """Error signal reaching the hidden layer and per-step input-weight gradient vs time (log scale), coloured by
    loss, solid for the trained and dashed for the untrained network (columns as from
    :func:`spikegrad.analysis.gradient_flow` plus ``loss`` and ``state``)."""
    set_style()
    losses = _losses(table["loss"])
    palette = dict(zip(losses, colours(len(losses)), strict=True))
    styles = {"trained": "-", "untrained": "--"}
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), sharex=True)
    panels = (("error_signal", "error signal at hidden layer"), ("input_gradient", "input-weight gradient per step"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        for (loss, state), df in table.groupby(["loss", "state"], sort=False):
            df = df.sort_values("time")
            ax.plot(df["time"], df[column], color=palette[loss], ls=styles.get(state, ":"), label=f"{loss}, {state}")
        ax.set_yscale("log", nonpositive="mask")
        ax.set(title=label, xlabel="time (ms)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def spike_deletion(history: pd.DataFrame, short: str, long: str) -> plt.Figure:
    """Validation accuracy vs epoch of the experiments ``short`` and ``long`` (mean ± sd over seeds), and, one
    panel each, the hidden spikes created (solid) and deleted (dashed) per weight update (mean over seeds)."""
    set_style()
    names = (short, long)
    tracked = ["spikes_created", "spikes_deleted"]
    missing = [n for n in names if n not in set(history["experiment"])]
    if missing:
        raise ValueError(f"no history rows of experiment(s) {missing}")
    fig, axes = plt.subplots(1, 3, figsize=(10.8, 3.2))
    for k, name in enumerate(names):
        df = history[history["experiment"] == name]
        if any(c not in df or df[c].isna().any() for c in tracked):
            raise ValueError(f"experiment {name!r} did not track spike changes (train with track_changes)")
        _mean_line(axes[0], df, "val_accuracy", color=f"C{k}", label=name)
        for column, ls in zip(tracked, ("-", "--"), strict=True):
            _mean_line(axes[k + 1], df, column, scale=1.0, color=f"C{k}", ls=ls, label=column.split("_")[1])
        axes[k + 1].set(title=name, ylabel="hidden spikes per update")
        axes[k + 1].legend(fontsize="small")
    axes[0].set(title="validation accuracy", ylabel="accuracy (%)", ylim=(0, 100))
    for ax in axes:
        _epoch_axis(ax)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig
