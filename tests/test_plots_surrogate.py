"""Surrogate-gradient study figures (spikegrad.studies.surrogate.figures) on small synthetic run tables: the
sensitivity and
robustness scores by hand, and the lines, bars and legends drawn."""

import itertools
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from spikegrad import plots, results
from spikegrad.studies.surrogate import figures as ps
from spikegrad.studies.surrogate import tables as sg_tables

SHAPES = ["rectangular", "exponential", "triangular"]  # deliberately not in the paper's order
LRS = [1e-4, 1e-3, 1e-2]


def make_runs(shapes=SHAPES, lrs=LRS, seeds=(0, 1), **fixed):
    """Test accuracy 0.5 + 0.1·(shape index) + 0.05·(lr index) + 0.01·seed; validation 0.02 above it."""
    rows = []
    for (i, shape), (j, lr), seed in itertools.product(enumerate(shapes), enumerate(lrs), seeds):
        test = 0.5 + 0.1 * i + 0.05 * j + 0.01 * seed
        rows.append(dict(experiment="exp", shape=shape, lr=lr, seed=seed, test_accuracy=test,
                         best_val_accuracy=test + 0.02, **fixed))  # fmt: skip
    return pd.DataFrame(rows)


def runs_of(table):
    """Runs from (shape, lr, test_accuracy) triples, one seed each."""
    return pd.DataFrame(table, columns=["shape", "lr", "test_accuracy"]).assign(seed=0)


def test_sensitivity_is_zero_when_every_shape_and_seed_scores_the_same_at_each_rate():
    runs = make_runs(seeds=(0, 1, 2))
    runs["test_accuracy"] = 0.3 + runs["lr"]  # depends on the rate only
    assert ps.sensitivity(runs) == 0.0


def test_sensitivity_by_hand():
    # normalised over the experiment (min 0.2, max 0.6): lr 1e-3 -> [0, 1], sd sqrt(1/2); lr 1e-2 -> [0.5, 0.5], sd 0
    runs = runs_of([("a", 1e-3, 0.2), ("b", 1e-3, 0.6), ("a", 1e-2, 0.4), ("b", 1e-2, 0.4)])
    assert ps.sensitivity(runs) == pytest.approx(np.sqrt(0.5) / 2)
    # three values per rate: [0, 0.5, 1] has sd 0.5, [0, 0, 0.5] has sd sqrt(1/12)
    runs = runs_of([("a", 1, 0.0), ("b", 1, 0.5), ("c", 1, 1.0), ("a", 2, 0.0), ("b", 2, 0.0), ("c", 2, 0.5)])
    assert ps.sensitivity(runs) == pytest.approx((0.5 + np.sqrt(1 / 12)) / 2)


def test_sensitivity_ignores_the_accuracy_scale():
    runs = make_runs()
    scaled = runs.assign(test_accuracy=0.1 + 0.5 * runs["test_accuracy"])
    assert ps.sensitivity(scaled) == pytest.approx(ps.sensitivity(runs))


def test_robustness_by_hand():
    # lr 1: a worst, c best; lr 2: a and b tie low, c best; lr 3: all equal (0 for every shape)
    runs = runs_of([("a", 1, 0.2), ("b", 1, 0.4), ("c", 1, 0.6), ("a", 2, 0.1), ("b", 2, 0.1), ("c", 2, 0.9),
                    ("a", 3, 0.5), ("b", 3, 0.5), ("c", 3, 0.5)])  # fmt: skip
    scores = ps.robustness(runs)
    np.testing.assert_allclose(scores.loc[["a", "b", "c"]], [0.0, 0.5 / 3, 2 / 3])


def test_accuracy_vs_lr_lines_bands_robustness_bars_and_sensitivity_in_title():
    runs = make_runs()
    fig = ps.accuracy_vs_lr(runs, "exp")
    ax_lr, ax_bar = fig.axes
    order = ["triangular", "exponential", "rectangular"]  # the paper's order
    assert [line.get_label() for line in ax_lr.get_lines()] == order
    assert ax_lr.get_xscale() == "log"
    triangular = ax_lr.get_lines()[0]
    np.testing.assert_allclose(triangular.get_xdata(), LRS)
    np.testing.assert_allclose(triangular.get_ydata(), [70.5, 75.5, 80.5])  # shape index 2, mean of seeds 0, 1
    assert len(ax_lr.collections) == 3
    half_sd = 100 * np.std([0.0, 0.01], ddof=1) / 2
    band = ax_lr.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(80.5 + half_sd) and band.min() == pytest.approx(70.5 - half_sd)
    np.testing.assert_allclose([p.get_height() for p in ax_bar.patches], ps.robustness(runs).loc[order])
    assert [t.get_text() for t in ax_bar.get_xticklabels()] == order
    assert fig.get_suptitle() == f"exp: sensitivity {ps.sensitivity(runs):.3f}"
    plt.close(fig)


def test_sensitivity_summary_one_bar_per_experiment():
    tasks = {"shd": make_runs(), "mnist": make_runs(shapes=["gaussian", "sigmoid"])}
    fig = ps.sensitivity_summary(tasks)
    (ax,) = fig.axes
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [ps.sensitivity(r) for r in tasks.values()])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shd", "mnist"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no learning-rate experiments"):
        ps.sensitivity_summary({})


def sweep_runs(parameter, values, predictions):
    frames = [make_runs(lrs=[1e-3]).assign(**{parameter: v}) for v in values]
    runs = pd.concat(frames, ignore_index=True)
    return runs.assign(**{f"predicted_{parameter}": np.resize(predictions, len(runs))})


def test_parameter_sweep_lines_per_shape_and_prediction_at_mean():
    runs = sweep_runs("dampening", [0.25, 0.5, 1.0], [0.2, 0.3])
    fig = ps.parameter_sweep(runs, "dampening", "damp")
    assert [ax.get_title() for ax in fig.axes] == ["validation", "test"]
    for ax, offset in zip(fig.axes, (2, 0), strict=True):
        lines = ax.get_lines()
        assert len(lines) == 4 and len(ax.collections) == 3
        np.testing.assert_allclose(lines[0].get_xdata(), [0.25, 0.5, 1.0])
        np.testing.assert_allclose(lines[0].get_ydata(), np.full(3, 70.5 + offset))  # triangular
        assert lines[-1].get_linestyle() == "--" and lines[-1].get_label() == "condition III"
        np.testing.assert_allclose(lines[-1].get_xdata(), [0.25, 0.25])
        assert ax.get_xscale() == "linear"
    plt.close(fig)


def test_parameter_sweep_tail_on_log_axis_and_no_line_without_prediction():
    runs = sweep_runs("tail", [1.01, 1.6, 17.0], [np.nan])
    fig = ps.parameter_sweep(runs, "tail", "tail")
    assert all(ax.get_xscale() == "log" and len(ax.get_lines()) == 3 for ax in fig.axes)
    plt.close(fig)
    fig = ps.parameter_sweep(runs.drop(columns="predicted_tail"), "tail", "tail")
    assert all(len(ax.get_lines()) == 3 for ax in fig.axes)
    plt.close(fig)
    fig = ps.parameter_sweep(sweep_runs("sharpness", [0.5, 1.0], [1.0, np.nan]), "sharpness", "sharp")
    assert fig.axes[0].get_lines()[-1].get_label() == "condition IV"
    np.testing.assert_allclose(fig.axes[0].get_lines()[-1].get_xdata(), [1.0, 1.0])
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown SG parameter"):
        ps.parameter_sweep(runs, "slope", "tail")


def test_conditions_ablation_bars_in_paper_order_with_others_after():
    names = ["I+II+III+IV", "III", "none", "II+IV", "I"]
    runs = pd.concat(
        [make_runs(shapes=["exponential"], lrs=[1e-3]).assign(conditions=c) for c in names], ignore_index=True
    )
    runs["test_accuracy"] += 0.05 * runs["conditions"].map(names.index)
    fig = ps.conditions_ablation(runs, "ablation")
    (ax,) = fig.axes
    order = ["none", "I", "III", "I+II+III+IV", "II+IV"]
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 10
    tests = [100 * (0.505 + 0.05 * names.index(c)) for c in order]
    np.testing.assert_allclose(heights[5:], tests)
    np.testing.assert_allclose(heights[:5], np.full(5, 100 * 0.525))
    plt.close(fig)


def rate_runs(layers=2, n=12):
    rng = np.random.default_rng(0)
    sparsity = np.repeat([0.0, 1.0], n // 2)
    rate = rng.uniform(0.0, 0.8, n)
    noise = rng.normal(0, 0.2, n)
    accuracy = np.where(sparsity == 0, 0.5 + 0.4 * rate, 0.7 + noise)  # off: exact line; on: noise
    rates = {f"rate_{stage}_l{k}": rate * (k + 0.5 * (stage == "final")) for k in range(1, layers + 1)
             for stage in ("initial", "final")}  # fmt: skip
    return pd.DataFrame(dict(sparsity=sparsity, test_accuracy=accuracy, **rates))


def test_rate_scatter_panels_and_pearson_r_in_legend_bold_if_significant():
    runs = rate_runs()
    fig = ps.rate_scatter(runs, "sparsity")
    assert [ax.get_title() for ax in fig.axes] == ["layer 1, initial", "layer 1, final", "layer 2, initial",
                                                   "layer 2, final"]  # fmt: skip
    off, on = runs[runs["sparsity"] == 0], runs[runs["sparsity"] > 0]
    for ax in fig.axes:
        assert len(ax.collections) == 2
        texts = ax.get_legend().get_texts()
        r_on, p_on = pearsonr(on["rate_initial_l1"], on["test_accuracy"])  # r is invariant to scaling the rate
        assert [t.get_text() for t in texts] == ["no sparsity loss: r = 1.00", f"sparsity loss: r = {r_on:.2f}"]
        assert texts[0].get_fontweight() == "bold"
        assert texts[1].get_fontweight() == ("bold" if p_on < 0.05 else "normal")
    assert pearsonr(off["rate_initial_l1"], off["test_accuracy"])[1] < 0.05
    plt.close(fig)


def test_rate_scatter_one_layer_and_no_r_for_small_or_constant_groups():
    runs = rate_runs(layers=1, n=4)
    runs.loc[runs["sparsity"] > 0, "test_accuracy"] = 0.6
    fig = ps.rate_scatter(runs, "one layer")
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no sparsity loss", "sparsity loss"]
    plt.close(fig)
    with pytest.raises(ValueError, match="rate_final_l1"):
        ps.rate_scatter(runs.assign(rate_final_l1=np.nan), "missing")


def test_tables_write_runs_history_and_summary_over_seeds(tmp_path):
    root, metrics, histories = tmp_path / "runs", [], []
    config = "experiment~rates/shape~exponential/lr~0.001/dampening~1.0/sharpness~1.0/tail~1.56/conditions~I+II"
    for rate, seed in itertools.product(["none", "0.1"], (0, 1)):  # initial_rate: a string and a number
        run = root / config / f"initial_rate~{rate}" / "sparsity~0.0" / f"seed~{seed}"
        scores = dict(test_accuracy=0.6 + 0.1 * seed, best_val_accuracy=0.7, final_train_accuracy=0.8)
        metrics.append(results.write_json(run / "metrics.json", dict(dataset="shd", **scores)))
        histories.append(results.write_text(run / "history.csv", "epoch,val_accuracy\n1,0.5\n"))
    out = {name: tmp_path / f"{name}.csv" for name in ("runs", "history", "summary", "robustness")}
    sg_tables.write(root, metrics, histories, ["rates", "not_run"], SimpleNamespace(**out))
    assert len(pd.read_csv(out["runs"])) == 4 and len(pd.read_csv(out["history"])) == 4
    summary = pd.read_csv(out["summary"])
    assert summary["initial_rate"].astype(str).tolist() == ["0.1", "none"] and summary["seeds"].tolist() == [2, 2]
    np.testing.assert_allclose(summary["test_accuracy_mean"], [0.65, 0.65])
    # one shape at one rate, accuracies 0.6 / 0.7 / 0.6 / 0.7: min-max scaled 0 / 1 / 0 / 1
    robust = pd.read_csv(out["robustness"])
    assert robust[["experiment", "shape", "most_robust"]].values.tolist() == [["rates", "exponential", True]]
    np.testing.assert_allclose(robust[["robustness", "sensitivity"]].values, [[0.5, np.std([0, 1, 0, 1], ddof=1)]])


def test_figure_draws_each_kind_and_fails_loudly(tmp_path):
    runs = pd.concat([make_runs().assign(experiment=name) for name in ("shd", "mnist")])
    for kind, experiment in (("lr", "shd"), ("sensitivity", None)):
        figure = plots.save(ps.figure(runs, kind, experiment, experiments=["shd", "mnist"]), tmp_path / f"{kind}.png")
        assert figure.stat().st_size > 10_000
    for kind, experiment, message in (("lr", "missing", "no finished runs"), ("violin", "shd", "unknown figure")):
        with pytest.raises(ValueError, match=message):
            ps.figure(runs, kind, experiment)
