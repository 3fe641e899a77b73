"""Gradient agreement of the exact engines (spikegrad.studies.forwardprop.agreement) on its random float64 networks:
every pair of
engines to rounding error, finite differences to their truncation error, FP's JVP to the reverse dot product."""

import pandas as pd
import pytest
import torch

from spikegrad.studies.forwardprop import agreement as ag


@pytest.mark.parametrize("ratio", ag.RATIOS)
@pytest.mark.parametrize("depth", list(ag.SIZES))
def test_engines_agree_with_each_other_and_finite_differences(depth, ratio):
    rows = pd.DataFrame(ag.compare_case(depth, ratio, seed=0, directions=1))
    assert rows["spikes_per_neuron"].iloc[0] >= 5  # many spikes per neuron
    exact = rows[rows["reference"] != "finite differences"]
    assert len(exact) == 4 and (exact["max_rel_diff"] < 1e-8).all(), exact
    fd = rows[rows["reference"] == "finite differences"]
    assert set(fd["compared"]) == set(ag.ENGINES) and (fd["max_rel_diff"] < 1e-5).all(), fd


def test_relative_difference_is_scaled_by_the_reference_maximum():
    assert ag.rel_diff(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0])) == 0.25


def test_finite_difference_rejects_directions_that_change_spike_counts(monkeypatch):
    tin, weights, coef, lif = ag.make_case(1, 2, 0)
    monkeypatch.setattr(ag, "EPS", 0.3)  # a step this large changes some spike count along any direction
    with pytest.raises(RuntimeError, match="keeps the spike counts"):
        ag.finite_difference(tin, weights, coef, lif, torch.Generator().manual_seed(0), tries=3)


def test_table_summary_markdown_and_cli(tmp_path, monkeypatch):
    base = dict(spikes_per_neuron=10.0, reference="spiketime", compared="adjoint", kind="elementwise")
    rows = [dict(depth=d, ratio=r, seed=s, **base, max_rel_diff=1e-16 * (1 + s))
            for d in (1, 2) for r in (2, 1) for s in (0, 1)]  # fmt: skip
    table = pd.DataFrame(rows, columns=ag.COLUMNS)
    wide = ag.summary(table)
    assert wide.shape == (1, 4) and (wide.to_numpy() == 2e-16).all()
    text = ag.markdown(table)
    assert "| adjoint vs spiketime | 2.0e-16 | 2.0e-16 | 2.0e-16 | 2.0e-16 |" in text
    assert "over 2 seeds" in text
    monkeypatch.setattr(ag, "compare_case", lambda depth, ratio, seed, directions: [
        {**rows[0], "depth": depth, "ratio": ratio, "seed": seed}])  # fmt: skip
    ag.main(["--out", str(tmp_path / "a.csv"), "--seeds", "2", "--directions", "1"])
    written = pd.read_csv(tmp_path / "a.csv")
    assert list(written.columns) == ag.COLUMNS and len(written) == 2 * 2 * 2
    with pytest.raises(ValueError, match="seeds and directions"):
        ag.agreement(0, 1)
