"""Forward-propagation figures: the cost figure (spikegrad.studies.forwardprop.figures) on a synthetic benchmark, and
the
scripts of the cost figure and of the agreement table."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spikegrad import plots, results
from spikegrad.studies.forwardprop import agreement
from spikegrad.studies.forwardprop import figures as pf
from spikegrad.studies.forwardprop.agreement import COLUMNS


def make_bench():
    """Three sizes; the full FP gradient over its budget at the largest (null, as the benchmark writes it)."""
    sizes = []
    for h, fp in ((8, 0.1), (16, 0.4), (32, None)):
        sizes.append(dict(hidden=h, P=60 * h, spikes=100 * h, fp_full_s=fp, fp_jvp_s=0.01 * h, reverse_s=0.02 * h,
                          forward_only_s=0.005 * h))  # fmt: skip
    return {"device": "cpu", "device_name": "cpu", "batch": 16, "sizes": sizes}


def test_bench_table_is_tidy_and_skips_methods_that_did_not_run():
    table = pf.bench_table(make_bench())
    assert list(table.columns) == ["hidden", "P", "spikes", "method", "seconds"]
    assert len(table) == 3 * 4 - 1
    assert table[table["method"] == "fp_full_s"]["hidden"].tolist() == [8, 16]
    with pytest.raises(ValueError, match="no sizes"):
        pf.bench_table({"sizes": []})


def test_cost_scaling_log_log_lines_and_weights_axis():
    fig = pf.cost_scaling(make_bench())
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == list(pf.METHODS.values())
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.1, 0.4])
    np.testing.assert_allclose(ax.get_lines()[2].get_xdata(), [8, 16, 32])
    assert ax.get_lines()[3].get_linestyle() == "--"
    assert ax.get_legend().get_title().get_text() == "cpu, batch 16"
    top = [child for child in ax.get_children() if child.__class__.__name__ == "SecondaryAxis"][0]
    assert [t.get_text() for t in top.get_xticklabels()] == ["480", "960", "1920"]
    plt.close(fig)


def test_cost_figure_from_the_benchmark_json(tmp_path):
    bench = results.write_json(tmp_path / "bench.json", make_bench())
    figure = plots.save(pf.cost_scaling(results.read_json(bench)), tmp_path / "cost.png")
    assert figure.stat().st_size > 10_000


def test_agreement_table_markdown(tmp_path):
    rows = [dict(depth=1, ratio=2, seed=0, spikes_per_neuron=9.0, reference="finite differences",
                 compared="spiketime", kind="directional", max_rel_diff=3e-8)]  # fmt: skip
    table = tmp_path / "agreement.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(table, index=False)
    assert "| spiketime vs finite differences | 3.0e-08 |" in agreement.markdown(pd.read_csv(table))
