"""Write the surrogate-gradient study's sweep tables, config/sweeps/surrogate_{smoke,quick,paper}.tsv.

One row per training run of notebooks/surrogate.ipynb. Each experiment varies one thing around the defaults
(DEFAULTS): the learning rate per SG shape (Fig. 2), the dampening γ, sharpness β or tail q (Fig. 5), the stability
conditions (Fig. 4), or the initial firing rate with and without the sparsity loss (Fig. 3) of Herranz-Celotti &
Rouat (arXiv 2202.00282). Run ``python -m spikegrad.studies.surrogate.sweeps`` after changing the grids below.
"""

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

from spikegrad import results
from spikegrad.surrogate import PAPER_SHAPES

COLUMNS = ["experiment", "shape", "lr", "dampening", "sharpness", "tail", "conditions", "initial_rate", "sparsity",
           "epochs", "seed"]  # fmt: skip
DEFAULTS = {"shape": "fast_sigmoid", "dampening": 1.0, "sharpness": 1.0, "tail": 1.56, "conditions": "none",
            "initial_rate": "none", "sparsity": 0.0}  # fmt: skip
ABLATION = ["none", "I", "II", "III", "IV", "I+II", "I+II+III", "I+II+III+IV"]  # the paper's Fig. 4 order
PAPER_LRS = [1e-5, 3.16e-5, 1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2]  # the paper's grid
PAPER_TAILS = [round(float(q), 3) for q in 10 ** np.linspace(-2, 1.2, 10) + 1]  # Fig. 5c: 1.01 … 16.85
PAPER_RATES = [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]  # Fig. 3 initial rates
PAPER_GRID = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]  # Fig. 5a, b: γ and β


def rows(experiment: str, epochs: int, seeds, **grid) -> list[dict]:
    """Runs of ``experiment``: the product of the ``grid`` columns (lists; ``lr`` among them) and seeds, with
    :data:`DEFAULTS` in the other columns."""
    names, values = list(grid), [grid[name] for name in grid]
    return [
        {"experiment": experiment, **DEFAULTS, **dict(zip(names, combo, strict=True)), "epochs": epochs, "seed": seed}
        for combo, seed in product(product(*values), seeds)
    ]


def parameter_sweeps(
    prefix: str, epochs: int, seeds, lr: float, shapes, gammas, betas, tails, rates, ablation=ABLATION
) -> list[dict]:
    """The γ, β and q sweeps, the conditions ablation and the initial-rate × sparsity study on one dataset."""
    lr = [lr]
    return [
        *rows(f"dampening_{prefix}", epochs, seeds, lr=lr, shape=shapes, dampening=gammas),
        *rows(f"sharpness_{prefix}", epochs, seeds, lr=lr, shape=shapes, sharpness=betas),
        *rows(f"tail_{prefix}", epochs, seeds, lr=lr, shape=["q_pseudospike"], tail=tails),
        *rows(f"conditions_{prefix}", epochs, seeds, lr=lr, conditions=ablation),
        *rows(f"sparsity_{prefix}", epochs, seeds, lr=lr, initial_rate=rates, sparsity=[0.0, 1.0]),
    ]


def smoke() -> list[dict]:
    return [
        *rows("lr_digits", 1, [0], shape=["fast_sigmoid", "rectangular"], lr=[1e-3, 1e-2]),
        *parameter_sweeps(
            "digits", 1, [0], 1e-2, ["fast_sigmoid"], [0.5], [0.5], [3.5], [0.3], ablation=["none", "I+II+III+IV"]
        ),
    ]


def quick() -> list[dict]:
    return [
        *rows("lr_digits", 6, [0, 1], shape=PAPER_SHAPES, lr=[1e-4, 1e-3, 1e-2]),
        *rows("lr_spoken", 22, [0, 1], shape=PAPER_SHAPES, lr=[3e-3, 1e-2]),
        *parameter_sweeps(
            "digits",
            6,
            [0],
            1e-3,
            ["fast_sigmoid", "exponential"],
            gammas=[0.1, 0.5, 1.0, 1.5],
            betas=[0.25, 0.5, 1.0, 2.0],
            tails=[1.01, 1.4, 3.5, 16.85],
            rates=[0.05, 0.3, 0.7],
        ),
    ]


def paper() -> list[dict]:
    seeds = [0, 1, 2, 3]
    return [
        *rows("lr_slmnist", 300, seeds, shape=PAPER_SHAPES, lr=PAPER_LRS),
        *rows("lr_shd", 450, seeds, shape=PAPER_SHAPES, lr=PAPER_LRS),
        *rows("lr_shd_alif", 450, seeds, shape=PAPER_SHAPES, lr=PAPER_LRS),
        *parameter_sweeps(
            "shd",
            450,
            seeds,
            3.16e-4,
            PAPER_SHAPES,
            gammas=PAPER_GRID,
            betas=PAPER_GRID,
            tails=PAPER_TAILS,
            rates=PAPER_RATES,
        ),
    ]


def write(path: Path, runs: list[dict]) -> None:
    table = pd.DataFrame(runs, columns=COLUMNS)
    results.write_text(path, table.to_csv(sep="\t", index=False))
    print(f"{path}: {len(table)} runs")


if __name__ == "__main__":
    for scale, make in {"smoke": smoke, "quick": quick, "paper": paper}.items():
        write(Path("config/sweeps") / f"surrogate_{scale}.tsv", make())
