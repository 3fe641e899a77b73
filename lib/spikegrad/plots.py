"""Figures: one function per figure, each taking a tidy DataFrame and returning a matplotlib Figure.
The style and the non-interactive backend are set here, once."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from spikegrad.atomic import atomic_write  # noqa: E402


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)


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
    """Input raster, hidden raster and readout voltages of one sample ([T, N] tensors; time axis in ms)."""
    set_style()
    fig, axes = plt.subplots(3, 1, figsize=(6.0, 6.0), sharex=True)
    for ax, spikes, name in ((axes[0], inputs, "input"), (axes[1], hidden, "hidden")):
        steps, units = spikes.cpu().nonzero(as_tuple=True)
        ax.scatter(steps * dt, units, s=2, color="k")
        ax.set(ylabel=f"{name} neuron")
    time = [n * dt for n in range(voltage.shape[0])]
    axes[2].plot(time, voltage.cpu())
    axes[2].set(xlabel="time (ms)", ylabel="readout U")
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
