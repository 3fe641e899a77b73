"""EventProp study figures (spikegrad.studies.eventprop.figures) on small synthetic tables: axes, lines and bars
drawn; the shared name-ordering and colour helpers."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spikegrad import plots
from spikegrad.studies.eventprop import figures as ep

LOSSES = ["max", "sum", "first_spike_exp", "sum_weigh_exp"]  # deliberately not in the paper's order


def make_runs(losses=LOSSES, variants=(("False", "none"),), seeds=(0, 1), experiment="exp"):
    rows = []
    for loss, (recurrent, augment), seed in itertools.product(losses, variants, seeds):
        acc = 0.5 + 0.1 * losses.index(loss) + 0.01 * seed
        rows.append(dict(experiment=experiment, loss=loss, recurrent=recurrent, augment=augment, lr=1e-3,
                         epochs=3, seed=seed, final_train_accuracy=acc + 0.05, best_val_accuracy=acc,
                         test_accuracy=acc - 0.02))  # fmt: skip
    return pd.DataFrame(rows)


def make_history(runs, epochs=3, tracked=False):
    rows = []
    for run in runs.to_dict("records"):
        for epoch in range(1, epochs + 1):
            row = {**run, "epoch": epoch, "train_accuracy": 0.2 * epoch + 0.01 * run["seed"]}
            row["val_accuracy"] = 0.15 * epoch + 0.01 * run["seed"]
            if tracked:
                row.update(spikes_created=10.0 / epoch + run["seed"], spikes_deleted=5.0 / epoch)
            rows.append(row)
    return pd.DataFrame(rows)


def solid_and_dashed(ax):
    styles = [line.get_linestyle() for line in ax.get_lines()]
    return styles.count("-"), styles.count("--")


def test_training_curves_draws_train_and_validation_per_seed():
    fig = ep.training_curves(make_history(make_runs(losses=["sum"], seeds=(0, 1, 2))), "one config")
    (ax,) = fig.axes
    assert solid_and_dashed(ax) == (3, 3)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["validation", "train"]
    plt.close(fig)


def test_training_curves_colours_by_loss_when_several():
    fig = ep.training_curves(make_history(make_runs(losses=["sum", "max"], seeds=(0,))), "two losses")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 4 and len({line.get_color() for line in ax.get_lines()}) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["validation", "train", "sum", "max"]
    plt.close(fig)


def test_accuracy_per_loss_one_panel_per_loss_in_paper_order_with_sd_bands():
    fig = ep.accuracy_per_loss(make_history(make_runs()), "per loss")
    assert [ax.get_title() for ax in fig.axes] == ["sum", "sum_weigh_exp", "max", "first_spike_exp"]
    for ax in fig.axes:
        assert solid_and_dashed(ax) == (1, 1)
        assert len(ax.collections) == 2  # ±sd bands: two seeds
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [15.5, 30.5, 45.5])  # mean of seeds 0, 1
    plt.close(fig)
    single = ep.accuracy_per_loss(make_history(make_runs(seeds=(0,))), "one seed")
    assert all(len(ax.collections) == 0 for ax in single.axes)
    plt.close(single)


def test_loss_comparison_bars_and_error_curves_per_variant():
    variants = (("True", "shift"), ("False", "none"), (False, "shift"))  # bool, as read back from CSV
    runs = make_runs(variants=variants)
    runs = runs[~((runs["loss"] == "max") & (runs["recurrent"] == "True"))]  # a loss missing from one panel
    fig = ep.loss_comparison(runs, make_history(runs), "comparison")
    top, bottom = fig.axes[:3], fig.axes[3:]
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in top] == ["feed-forward, no aug.", "feed-forward, shift", "recurrent, shift"]
    assert [len(ax.patches) for ax in top] == [12, 12, 12]  # 3 splits x 4 losses (NaN bars for a missing loss)
    assert [t.get_text() for t in top[0].get_xticklabels()] == ["sum", "sum_weigh_exp", "max", "first_spike_exp"]
    assert [len(ax.get_lines()) for ax in bottom] == [4, 4, 3]
    sum_bars = [p.get_height() for p in top[0].patches[::4]]  # loss "sum": train, validation, test
    np.testing.assert_allclose(sum_bars, [100 * (0.6 + 0.005 + 0.05), 100 * 0.605, 100 * (0.605 - 0.02)])
    np.testing.assert_allclose(bottom[0].get_lines()[0].get_ydata(), 100 * (1 - np.array([0.155, 0.305, 0.455])))
    plt.close(fig)


def test_gradient_flow_two_log_panels_with_a_line_per_loss_and_state():
    time = np.arange(5) * 1.0
    table = pd.concat(
        [
            pd.DataFrame(
                {"time": time, "error_signal": [0.0, 1e-3, 1e-2, 1e-1, 1.0], "input_gradient": time + 1}
            ).assign(loss=loss, state=state)
            for loss in ("sum", "sum_weigh_exp")
            for state in ("untrained", "trained")
        ]
    )
    fig = ep.gradient_flow(table)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_yscale() == "log" and len(ax.get_lines()) == 4
        assert solid_and_dashed(ax) == (2, 2) and len({line.get_color() for line in ax.get_lines()}) == 2
    plt.close(fig)


def test_spike_deletion_accuracy_and_created_deleted_panels():
    runs = pd.concat([make_runs(["avg_xentropy"], experiment=e) for e in ("short", "long", "other")])
    fig = ep.spike_deletion(make_history(runs, tracked=True), "short", "long")
    accuracy, short, long = fig.axes
    assert len(accuracy.get_lines()) == 2 and (short.get_title(), long.get_title()) == ("short", "long")
    assert solid_and_dashed(short) == (1, 1) and solid_and_dashed(long) == (1, 1)
    np.testing.assert_allclose(short.get_lines()[0].get_ydata(), [10.5, 5.5, 10 / 3 + 0.5])
    plt.close(fig)
    with pytest.raises(ValueError, match="track_changes"):
        ep.spike_deletion(make_history(runs), "short", "long")
    with pytest.raises(ValueError, match="missing"):
        ep.spike_deletion(make_history(runs, tracked=True), "short", "missing")


def test_ordered_names_and_colours_fixed_by_a_reference_order():
    assert plots.ordered(["b", "x", "a", "b"], ("a", "b", "c")) == ["a", "b", "x"]
    colours = plots.fixed_colours(["x", "b"], ("a", "b", "c"))
    assert list(colours) == ["a", "b", "c", "x"]
    assert colours["b"] == plots.fixed_colours(["b"], ("a", "b", "c"))["b"]  # the same colour without "x"
    assert len(set(colours.values())) == 4


def test_experiment_figure_of_each_kind_and_errors():
    runs = make_runs()
    history = make_history(runs)
    experiment = runs["experiment"].iloc[0]
    for kind in ep.FIGURES:
        fig = ep.experiment_figure(runs, history, experiment, kind)
        assert fig.axes and fig.axes[0].lines
        plt.close(fig)
    with pytest.raises(ValueError, match="no finished runs"):
        ep.experiment_figure(runs, history, "missing", "curves")
    with pytest.raises(ValueError, match="unknown figure kind"):
        ep.experiment_figure(runs, history, experiment, "violin")
