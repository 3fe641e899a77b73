"""Convergence grid of single- vs multi-spike training (spikegrad.studies.multispike.convergence): the grid, the
table's columns and
ranges, determinism, and that stacking cells and repeats into one layer trains each block as if alone."""

import numpy as np
import pandas as pd
import pytest
import torch

from spikegrad.studies.multispike import convergence as cv


def test_grid_includes_both_ends():
    assert cv.grid(0.4).tolist() == [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4]
    assert len(cv.grid(0.2)) == 13 and cv.grid(0.2)[-1] == 2.4
    with pytest.raises(ValueError, match="step"):
        cv.grid(0.0)


def test_tiny_grid_table_columns_ranges_and_determinism():
    table = cv.convergence(step=1.2, repeats=3, epochs=4, seed=5)
    assert list(table.columns) == ["variant", "mean", "std", "accuracy"]
    assert len(table) == 2 * 9 and set(table["variant"]) == {"spike_count", "ttfs"}
    assert sorted(set(table["mean"])) == sorted(set(table["std"])) == [0.0, 1.2, 2.4]
    assert table["accuracy"].between(0, 1).all()
    # each repeat's best accuracy over 2 samples is 0, 1/2 or 1, so the mean over 3 repeats is a multiple of 1/6
    assert np.allclose(table["accuracy"] * 6, np.round(table["accuracy"] * 6))
    # zero weights: no spikes, no gradient, both samples predicted class 0, accuracy 1/2 throughout
    zero = table[(table["mean"] == 0) & (table["std"] == 0)]
    assert zero["accuracy"].tolist() == [0.5, 0.5]
    pd.testing.assert_frame_equal(table, cv.convergence(step=1.2, repeats=3, epochs=4, seed=5))


def test_stacked_cells_train_as_if_alone():
    cells = np.array([[1.2, 0.4], [2.0, 1.6], [0.8, 2.4]])
    z = torch.randn(3, 4, 2, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    task = cv.ConvergenceTask()
    for variant in cv.VARIANTS:
        stacked = cv.train_cells(cells, variant, 4, 6, z, task)
        alone = [cv.train_cells(cells[i : i + 1], variant, 4, 6, z[i : i + 1], task)[0] for i in range(3)]
        singles = [cv.train_cells(cells[i : i + 1], variant, 1, 6, z[i : i + 1, r : r + 1], task)[0]
                   for i in range(3) for r in range(4)]  # fmt: skip
        assert stacked.tolist() == alone
        assert np.allclose(stacked, np.reshape(singles, (3, 4)).mean(1))


def test_multi_spike_converges_from_more_initial_weights():
    table = cv.convergence(step=0.8, repeats=6, epochs=20, seed=0)
    mean = table.groupby("variant")["accuracy"].mean()
    assert mean["spike_count"] > mean["ttfs"] + 0.1  # Bacho & Chu's claim, on a coarse grid


def test_cli_writes_the_table(tmp_path):
    out = tmp_path / "conv.csv"
    cv.main(["--out", str(out), "--step", "2.4", "--repeats", "2", "--epochs", "2", "--seed", "1"])
    table = pd.read_csv(out)
    assert len(table) == 8 and table["accuracy"].between(0, 1).all()


def test_bad_arguments():
    z = torch.zeros(1, 1, 2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="variant"):
        cv.train_cells(np.zeros((1, 2)), "rate", 1, 1, z, cv.ConvergenceTask())
    with pytest.raises(ValueError, match="z must be"):
        cv.train_cells(np.zeros((2, 2)), "ttfs", 1, 1, z, cv.ConvergenceTask())
    with pytest.raises(ValueError, match="repeats and epochs"):
        cv.convergence(step=1.2, repeats=0, epochs=1)
