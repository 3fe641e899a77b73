"""Sparse-backprop study figures (spikegrad.studies.sparse.figures) and its tables and figures on small
synthetic tables: panels, lines and bars drawn with the table's values."""

import itertools
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spikegrad import results
from spikegrad.studies.sparse import figures as ps
from spikegrad.studies.sparse import tables as sparse_tables

RUNS = [("digits", "bptt", np.inf), ("digits", "sparse", 0.2), ("digits", "sparse", 0.05), ("spoken", "bptt", np.inf),
        ("spoken", "sparse", 0.2)]  # fmt: skip


def make_history(epochs=3, seeds=(0, 1)):
    """active_l<k> = 0.01·k + 0.001·epoch for sparse runs (NaN for dense); val_accuracy = 0.1·epoch."""
    rows = []
    for (experiment, engine, band), seed, epoch in itertools.product(RUNS, seeds, range(1, epochs + 1)):
        sparse = engine == "sparse"
        rows.append({"experiment": experiment, "engine": engine, "band": band, "seed": seed, "epoch": epoch,
                     "val_accuracy": 0.1 * epoch, "seconds": 1.0 + sparse,
                     **{f"active_l{k}": 0.01 * k + 0.001 * epoch if sparse else np.nan for k in (1, 2)}})  # fmt: skip
    return pd.DataFrame(rows)


def make_runs(seeds=(0, 1)):
    """test_accuracy = 0.8 (dense), 0.7 + 0.1·band (sparse), + 0.01·seed."""
    rows = [{"experiment": e, "engine": g, "band": b, "seed": s,
             "test_accuracy": (0.8 if g == "bptt" else 0.7 + 0.1 * b) + 0.01 * s}
            for (e, g, b), s in itertools.product(RUNS, seeds)]  # fmt: skip
    return pd.DataFrame(rows)


def make_bench():
    def case(hidden, band, speedup):
        entry = {"active_fraction": [0.02, 0.01]}
        return {"hidden": hidden, "band": band, "backward_speedup": speedup, "step_speedup": speedup / 4,
                "memory_saved": 0.3, "bptt": {}, "sparse": entry}  # fmt: skip

    return {"T": 50, "B": 4, "n_in": 30, "device_name": "cpu",
            "by_hidden": [case(h, 0.2, h / 10) for h in (200, 400)],
            "by_band": [case(400, 0.05, 80.0), case(400, None, 0.5)]}  # fmt: skip


def test_active_fraction_draws_one_line_per_layer_and_experiment():
    fig = ps.active_fraction(make_history())
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["digits", "spoken"]
    lines = axes[0].get_lines()
    assert len(lines) == 2  # layers 1 and 2 of the B_th = 0.2 runs only
    np.testing.assert_allclose(lines[1].get_ydata(), 100 * (0.02 + 0.001 * np.arange(1, 4)))
    plt.close(fig)


def test_parity_bars_are_means_over_seeds():
    fig = ps.parity(make_runs())
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [72.5, 72.5, 80.5, 80.5]  # sparse 0.7 + 0.02 + 0.005; dense 0.8 + 0.005 (B_th = 0.05 left out)
    plt.close(fig)


def test_band_sweep_plots_accuracy_and_benchmark_against_band():
    fig = ps.band_sweep(make_runs(), make_bench())
    acc, speed, memory = fig.axes
    (sparse_line,) = [line for line in acc.get_lines() if line.get_label() == "digits, sparse"]
    np.testing.assert_allclose(sparse_line.get_xdata(), [0.05, 0.2])
    np.testing.assert_allclose(sparse_line.get_ydata(), [70.5 + 0.5, 72.5])
    backward = speed.get_lines()[0]
    np.testing.assert_allclose(backward.get_xdata(), [0.05, 0.2])  # B_th = ∞ (None) left off the log axis
    np.testing.assert_allclose(backward.get_ydata(), [80.0, 40.0])
    plt.close(fig)


def test_scaling_plots_speedup_and_memory_against_hidden_size():
    fig = ps.scaling(make_bench())
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [20.0, 40.0])
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), [5.0, 10.0])
    np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), [30.0, 30.0])
    plt.close(fig)
    with pytest.raises(ValueError, match="by_hidden"):
        ps.scaling({**make_bench(), "by_hidden": []})


def test_active_fraction_needs_sparse_runs():
    history = make_history()
    with pytest.raises(ValueError, match="no sparse runs"):
        ps.active_fraction(history[history["engine"] == "bptt"])


def test_tables_and_figures_from_run_folders(tmp_path):
    root = tmp_path / "runs"
    history, runs = make_history(), make_runs()
    metrics, histories = [], []
    for row in runs.to_dict("records"):
        band = "inf" if np.isinf(row["band"]) else row["band"]
        run = root / f"experiment~{row['experiment']}/engine~{row['engine']}/band~{band}/seed~{row['seed']}"
        scores = {"test_accuracy": row["test_accuracy"], "best_val_accuracy": 0.5, "seconds_per_epoch": 2.0}
        results.write_json(run / "metrics.json", scores)
        key = (history["experiment"] == row["experiment"]) & (history["engine"] == row["engine"])
        key &= np.isclose(history["band"], row["band"]) & (history["seed"] == row["seed"])
        cols = ["epoch", "val_accuracy", "seconds", "active_l1", "active_l2"]
        results.write_text(run / "history.csv", history[key][cols].to_csv(index=False))
        metrics.append(run / "metrics.json")
        histories.append(run / "history.csv")
    tables = {name: tmp_path / f"{name}.csv" for name in ("runs", "history", "summary")}
    experiments = {"digits": {"dataset": "digits"}, "spoken": {"dataset": "spoken-digits"}}
    sparse_tables.write(root, metrics, histories, experiments, SimpleNamespace(**tables))
    summary = pd.read_csv(tables["summary"])
    row = summary[(summary["experiment"] == "digits") & (summary["engine"] == "sparse") & (summary["band"] == 0.2)]
    assert row["test_accuracy_mean"].item() == pytest.approx(0.725) and row["seeds"].item() == 2
    assert row["active_l2_mean"].item() == pytest.approx(0.023)  # the last epoch's
    assert row["seconds_per_epoch_mean"].item() == pytest.approx(2.0)
    results.write_json(tmp_path / "bench.json", make_bench())
    figures = {name: tmp_path / f"{name}.png" for name in ("active_fraction", "parity", "band", "scaling")}
    history, runs, bench = pd.read_csv(tables["history"]), pd.read_csv(tables["runs"]), make_bench()
    ps.save_all(history, runs, bench, SimpleNamespace(**figures))
    assert all(path.stat().st_size > 10_000 for path in figures.values())
