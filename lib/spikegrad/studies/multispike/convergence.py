r"""Convergence from a grid of initial weight distributions: single- vs multi-spike training of one LIF layer
(Bacho & Chu, arXiv 2212.09500, ``experiments/convergence/convergence_{count,ttfs}.py`` of
``Florian-BACHO/bats``).

**Task** (BATS's, in its units with the time unit taken as 1 ms): 4 inputs → 2 LIF outputs
(:mod:`spikegrad.engines.events`, τ_s = 1 ms, τ_m = 2τ_s, ϑ = 1, reset to 0, simulated to T = 10 ms), two fixed
samples of one input spike per channel, one per class:

.. math::

    \text{sample 0 (class 0)}: t = (0, 0, 1, 2)\ \text{ms}, \qquad
    \text{sample 1 (class 1)}: t = (0, 0, 2, 1)\ \text{ms},

so only the order of the last two inputs tells the classes apart. Initial weights w_BATS ~ N(μ, σ²) for each
(μ, σ) of a grid over [0, 2.4]²; each grid cell is ``repeats`` independent draws, each trained for ``epochs`` full-batch
steps of plain SGD; a cell's value is the mean over its repeats of the best training accuracy over the epochs
(accuracy measured on the forward pass before each step, as BATS does; 0.5 when both samples get the same
prediction). Variants:

- ``spike_count``: K = 10 spike slots, the ``spike_count`` loss with targets 10 (true) / 0 (false)
  (prediction: most spikes, ties to the earliest first spike, not to the lower index as in BATS);
- ``ttfs``: K = 1, the ``ttfs`` loss with τ_loss = 0.1 ms (prediction: earliest first spike).

**Units.** Our layer is τ_m V̇ = −V + I with I ← I + w, BATS's u̇ = −u/τ + g with g ← g + w_BATS, so w = τ_m w_BATS
(τ_m = 2 in BATS's time unit); the grid (μ, σ) is that of w_BATS, as in the paper's heatmaps. SGD on w_BATS with
rate η_BATS = 0.1 is SGD on w with η = τ_m² η_BATS = 0.4, since ∂L/∂w_BATS = τ_m ∂L/∂w. With the time unit equal to
BATS's, the spike-count pseudo-derivative (per unit time) and τ_loss carry over unchanged, so the weight
trajectories are BATS's. The gradient is averaged over the two samples, as in BATS.

**Stacking.** The output neurons of one layer do not interact: neuron n's spikes depend only on row n of W. So the
R repeats × C grid cells, each a 4 → 2 layer, are one 4 → 2RC layer, and the loss Σ_r L_r, summed over the
repeats (each L_r the mean over the 2 samples), has ∂/∂W_r = ∂L_r/∂W_r: one simulation and one backward pass per
epoch train all of them, each block exactly as if alone (engine :mod:`spikegrad.engines.spiketime`, float64).
Standard normal draws z [C, R, 2, 4] come from one seeded generator, w_BATS = μ + σz, and both variants use the same
draws (common random numbers).

Run: ``python -m spikegrad.studies.multispike.convergence --out results/convergence.csv --step 0.4 --repeats 20
--epochs 30``
writes the tidy table (variant, mean, std, accuracy).
"""

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from spikegrad import results
from spikegrad.engines import spiketime
from spikegrad.engines.events import EventOptions
from spikegrad.losses import LossParams, compute
from spikegrad.model import LIFParams

INPUTS = ((0.0, 0.0, 1.0, 2.0), (0.0, 0.0, 2.0, 1.0))  # ms, one spike per channel; sample i has class i
LABELS = (0, 1)
GRID_STOP = 2.4  # the grid's largest mean and sd (of w_BATS)
COLUMNS = ["variant", "mean", "std", "accuracy"]


class ConvergenceTask(NamedTuple):
    tau_syn: float = 1.0  # τ_s, ms (BATS's 1 time unit)
    tau_mem: float = 2.0  # τ_m = 2τ_s, ms
    threshold: float = 1.0  # ϑ
    t_max: float = 10.0  # ms, BATS's SIMULATION_TIME
    lr: float = 0.4  # SGD η on w = τ_m w_BATS: τ_m² × BATS's 0.1 (module docstring)
    tau_loss: float = 0.1  # ms, ttfs
    target_true: float = 10.0  # spike_count
    target_false: float = 0.0


VARIANTS = {  # variant: (spike slots K, loss of spikegrad.losses)
    "spike_count": (10, "spike_count"),
    "ttfs": (1, "ttfs"),
}


def grid(step: float, stop: float = GRID_STOP) -> np.ndarray:
    """0, step, 2·step, ... up to ``stop`` inclusive (rounded to 10 decimals)."""
    if not 0 < step <= stop:
        raise ValueError(f"step must be in (0, {stop}], got {step}")
    return np.round(np.arange(0.0, stop + step / 2, step), 10)


def train_cells(
    cells: np.ndarray, variant: str, repeats: int, epochs: int, z: torch.Tensor, task: ConvergenceTask
) -> np.ndarray:
    """Mean over repeats of the best accuracy, per cell of ``cells [C, 2]`` (μ, σ of w_BATS), all cells and repeats
    trained in one stacked layer (module docstring); ``z [C, R, 2, 4]`` are the standard normal draws."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    max_spikes, loss = VARIANTS[variant]
    n_cells = len(cells)
    if z.shape != (n_cells, repeats, 2, 4):
        raise ValueError(f"z must be [{n_cells}, {repeats}, 2, 4], got {tuple(z.shape)}")
    lif = LIFParams(tau_mem=task.tau_mem, tau_syn=task.tau_syn, threshold=task.threshold)
    options = EventOptions(max_spikes=max_spikes, t_max=task.t_max, truncate=True)
    params = LossParams(tau0=task.tau_loss, target_true=task.target_true, target_false=task.target_false)
    mean, std = (torch.as_tensor(cells[:, i], dtype=torch.float64)[:, None, None, None] for i in (0, 1))
    weight = (task.tau_mem * (mean + std * z)).reshape(-1, 4).requires_grad_()  # [C·R·2, 4]
    tin = torch.tensor(INPUTS, dtype=torch.float64)[:, :, None]  # [2 samples, 4, 1]
    n_blocks = n_cells * repeats
    labels = torch.tensor(LABELS).repeat(n_blocks)  # block-major: [block, sample]
    best = torch.zeros(n_blocks, dtype=torch.float64)
    for _ in range(epochs):
        out = spiketime.layer(tin, weight, lif, options)  # [2, C·R·2, K]
        per_block = out.view(2, n_blocks, 2, -1).transpose(0, 1).reshape(2 * n_blocks, 2, -1)
        mean_loss, logits = compute(loss, per_block, labels, task.t_max, params)
        correct = (logits.argmax(-1) == labels).view(n_blocks, 2).double().mean(1)
        best = torch.maximum(best, correct)
        (grad,) = torch.autograd.grad(mean_loss * n_blocks, weight)  # Σ over blocks of each block's mean loss
        with torch.no_grad():
            weight -= task.lr * grad
    return best.view(n_cells, repeats).mean(1).numpy()


def convergence(
    step: float, repeats: int, epochs: int, seed: int = 0, variants=tuple(VARIANTS), task: ConvergenceTask | None = None
) -> pd.DataFrame:
    """The tidy table (variant, mean, std, accuracy) over the grid of :func:`grid` (module docstring)."""
    if repeats < 1 or epochs < 1:
        raise ValueError(f"repeats and epochs must be positive, got {repeats}, {epochs}")
    task = ConvergenceTask() if task is None else task
    values = grid(step)
    cells = np.array([(m, s) for s in values for m in values])
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(len(cells), repeats, 2, 4, generator=gen, dtype=torch.float64)
    frames = []
    for variant in variants:
        accuracy = train_cells(cells, variant, repeats, epochs, z, task)
        frames.append(pd.DataFrame({"variant": variant, "mean": cells[:, 0], "std": cells[:, 1],
                                    "accuracy": accuracy}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (atomically)")
    parser.add_argument("--step", type=float, required=True, help="grid step of the weight mean and sd")
    parser.add_argument("--repeats", type=int, required=True, help="weight draws per grid cell")
    parser.add_argument("--epochs", type=int, required=True, help="SGD steps per draw")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    table = convergence(args.step, args.repeats, args.epochs, args.seed)
    results.write_text(args.out, table.to_csv(index=False))


if __name__ == "__main__":
    main()
