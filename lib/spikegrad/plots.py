"""Figures: one function per figure, each taking a tidy DataFrame and returning a matplotlib Figure.
The non-interactive backend is set here, once; each figure function applies the style (:func:`set_style`).
seaborn is imported where it is used: with scipy it costs about 1.2 s, which every notebook run would otherwise
pay before training."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

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


def of_experiment(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The rows of ``experiment`` in a study's run or history table; ValueError if it has none."""
    rows = table[table["experiment"] == experiment]
    if rows.empty:
        raise ValueError(f"no finished runs of experiment {experiment!r}")
    return rows


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
