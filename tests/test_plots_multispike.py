"""Multi-spike study figures (spikegrad.studies.multispike.figures) and its tables and figures on small
synthetic tables: panels, lines, bands, bars and heatmap values drawn."""

import itertools
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spikegrad import results
from spikegrad.studies.multispike import figures as pm
from spikegrad.studies.multispike import tables

EXPERIMENTS = {  # experiment: (dataset, variant, LIF layers)
    "digits_single": ("digits", "single", 2),
    "digits_multi": ("digits", "multi", 2),
    "mnist_conv": ("mnist", "multi-conv", 4),
}


def make_history(epochs=3, seeds=(0, 1)):
    """val_accuracy = 0.1·epoch + 0.2·(multi) + 0.01·seed; layer k of a run: silent 0.1·k, spikes 10·k·epoch,
    latency 5 + epoch; layers a run lacks are NaN."""
    rows = []
    for (name, (dataset, variant, layers)), seed, epoch in itertools.product(EXPERIMENTS.items(), seeds,
                                                                             range(1, epochs + 1)):  # fmt: skip
        row = dict(experiment=name, dataset=dataset, variant=variant, seed=seed, epoch=epoch, val_latency=5.0 + epoch,
                   val_accuracy=0.1 * epoch + 0.2 * (variant != "single") + 0.01 * seed)  # fmt: skip
        for k in range(1, 5):
            row[f"val_silent_l{k}"] = 0.1 * k if k <= layers else np.nan
            row[f"val_spikes_l{k}"] = 10.0 * k * epoch if k <= layers else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def make_runs(seeds=(0, 1)):
    rows = [dict(experiment=name, dataset=dataset, variant=variant, seed=seed, test_accuracy=0.8,
                 seconds_per_epoch=(3.0 if variant == "single" else 6.0) + seed)
            for (name, (dataset, variant, _)), seed in itertools.product(EXPERIMENTS.items(), seeds)]  # fmt: skip
    return pd.DataFrame(rows)


def test_accuracy_vs_epoch_one_panel_per_dataset_one_line_per_variant_with_sd_band():
    fig = pm.accuracy_vs_epoch(make_history())
    assert [ax.get_title() for ax in fig.axes] == ["digits", "mnist"]
    digits, mnist = fig.axes
    assert [line.get_label() for line in digits.get_lines()] == ["single", "multi"]
    np.testing.assert_allclose(digits.get_lines()[1].get_ydata(), [30.5, 40.5, 50.5])  # mean over seeds, in %
    assert len(digits.collections) == 2  # one sd band per variant
    assert [line.get_label() for line in mnist.get_lines()] == ["multi-conv"]
    colours = {line.get_label(): line.get_color() for ax in fig.axes for line in ax.get_lines()}
    assert len(set(colours.values())) == 3
    plt.close(fig)


def test_one_seed_draws_no_band():
    fig = pm.accuracy_vs_epoch(make_history(seeds=(0,)))
    assert all(len(ax.collections) == 0 for ax in fig.axes)
    plt.close(fig)


def test_per_layer_figures_draw_each_runs_layers_only():
    history = make_history()
    fig = pm.silent_neurons(history)
    digits, mnist = fig.axes
    assert [line.get_label() for line in digits.get_lines()] == [
        "single, layer 1", "single, layer 2", "multi, layer 1", "multi, layer 2"]  # fmt: skip
    assert len(mnist.get_lines()) == 4  # the conv net's four LIF layers
    np.testing.assert_allclose(digits.get_lines()[1].get_ydata(), [20.0, 20.0, 20.0])
    assert [line.get_linestyle() for line in digits.get_lines()[:2]] == ["-", "--"]
    plt.close(fig)
    fig = pm.spikes_per_layer(history)
    assert fig.axes[0].get_yscale() == "symlog"
    np.testing.assert_allclose(fig.axes[1].get_lines()[3].get_ydata(), [40.0, 80.0, 120.0])
    plt.close(fig)
    with pytest.raises(ValueError, match="val_silent_l"):
        pm.silent_neurons(history.drop(columns=[c for c in history if c.startswith("val_silent")]))


def test_decision_latency_and_missing_columns():
    fig = pm.decision_latency(make_history())
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [6.0, 7.0, 8.0])
    assert fig.axes[0].get_ylabel() == "decision latency (ms)"
    plt.close(fig)
    with pytest.raises(ValueError, match="val_latency"):
        pm.decision_latency(make_history().drop(columns="val_latency"))
    with pytest.raises(ValueError, match="empty"):
        pm.accuracy_vs_epoch(make_history().iloc[:0])


def test_time_per_epoch_bars_mean_and_sd():
    fig = pm.time_per_epoch(make_runs())
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["digits", "mnist"]
    heights = [p.get_height() for p in ax.patches]  # variants in order single, multi, multi-conv; NaN if absent
    np.testing.assert_allclose(heights, [3.5, np.nan, 6.5, np.nan, np.nan, 6.5])
    plt.close(fig)


def convergence_table(values=(0.0, 1.2, 2.4)):
    rows = [dict(variant=variant, mean=m, std=s, accuracy=0.5 + 0.5 * (variant == "spike_count") * m / 2.4)
            for variant in ("spike_count", "ttfs") for s in values for m in values]  # fmt: skip
    return pd.DataFrame(rows)


def test_convergence_heatmap_two_panels_with_values():
    fig = pm.convergence_heatmap(convergence_table())
    count, ttfs = fig.axes[:2]
    assert count.get_title().startswith("multi-spike") and ttfs.get_title().startswith("single-spike")
    image = count.get_images()[0].get_array()
    np.testing.assert_allclose(image[0], [50.0, 75.0, 100.0])  # row: sd 0, columns: mean
    np.testing.assert_allclose(ttfs.get_images()[0].get_array(), 50.0)
    assert [t.get_text() for t in count.texts[:3]] == ["50", "75", "100"]
    assert [t.get_text() for t in count.get_xticklabels()] == ["0", "1.2", "2.4"]
    assert len(fig.axes) == 3  # and the colour bar
    plt.close(fig)
    fig = pm.convergence_heatmap(convergence_table(np.round(np.arange(0, 2.5, 0.2), 1)))
    assert not fig.axes[0].texts  # 13 x 13: no values written
    plt.close(fig)
    with pytest.raises(ValueError, match="none of the variants"):
        pm.convergence_heatmap(convergence_table().assign(variant="other"))


def test_tables_and_figures_from_run_folders(tmp_path):
    root, metrics, histories = tmp_path / "runs", [], []
    history = make_history()
    # two learning rates per experiment: 0.01 validates better (0.7 vs 0.6) and is selected
    for (name, (dataset, _, _)), lr, seed in itertools.product(EXPERIMENTS.items(), (0.003, 0.01), (0, 1)):
        run = root / f"experiment~{name}" / f"lr~{lr}" / f"seed~{seed}"
        val = 0.7 if lr == 0.01 else 0.6
        scores = dict(test_accuracy=val + 0.05 + 0.1 * seed, best_val_accuracy=val, test_latency=8.0,
                      seconds_per_epoch=2.0, test_spikes_l1=30.0, test_silent_l1=0.1)  # fmt: skip
        metrics.append(results.write_json(run / "metrics.json", dict(dataset=dataset, seed=seed, **scores)))
        rows = history[(history["experiment"] == name) & (history["seed"] == seed)]
        rows = rows.drop(columns=["experiment", "dataset", "variant", "seed"])
        histories.append(results.write_text(run / "history.csv", rows.to_csv(index=False)))
    out = {name: tmp_path / f"{name}.csv" for name in ("runs", "history", "summary")}
    experiments = {name: {"dataset": d, "variant": v} for name, (d, v, _) in EXPERIMENTS.items()}
    tables.write(root, metrics, histories, experiments, SimpleNamespace(**out))
    runs = pd.read_csv(out["runs"])
    assert len(runs) == 12 and set(runs["variant"]) == {"single", "multi", "multi-conv"}
    assert runs.loc[runs["selected"], "lr"].tolist() == [0.01] * 6
    assert len(pd.read_csv(out["history"]).query("selected")) == len(history)
    summary = pd.read_csv(out["summary"])
    assert summary["seeds"].tolist() == [2] * 6 and summary["lrs_tried"].tolist() == [2] * 6
    selected = summary[summary["selected"]]
    assert selected["lr"].tolist() == [0.01] * 3
    assert selected["test_accuracy_mean"].tolist() == pytest.approx([0.8] * 3)
    assert "test_spikes_l1_mean" in summary
    figures = {name: tmp_path / f"{name}.png" for name in ("accuracy", "silent", "spikes", "latency", "time")}
    pm.save_all(pd.read_csv(out["history"]), pd.read_csv(out["runs"]), SimpleNamespace(**figures))
    assert all(path.stat().st_size > 10_000 for path in figures.values())
    with pytest.raises(ValueError, match="not in the config"):
        tables.write(root, metrics, histories, {}, SimpleNamespace(**out))
