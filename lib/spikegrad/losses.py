r"""Classification losses on the readout voltage U [T, B, C]; each returns (mean loss, logits [B, C]).

.. math::

    \text{max:}\quad z_k = \max_n U_{n,k}, \qquad
    \text{sum:}\quad z_k = \frac{1}{T}\sum_{n} U_{n,k} \;\approx\; \frac{1}{T\Delta t}\int_0^{T\Delta t} U_k\,dt,

    L = -\frac{1}{B}\sum_b \log \operatorname{softmax}(z_b)_{y_b}

(``max`` and ``sum`` are L_max and L_sum of Nowotny, Turner & Knight, arXiv 2212.01232.) The prediction is
argmax_k z_k. Losses are plain torch functions, so every engine differentiates them the same way.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F


def max_over_time(voltage: torch.Tensor) -> torch.Tensor:
    """z_k = max_n U_{n,k}."""
    return voltage.amax(dim=0)


def mean_over_time(voltage: torch.Tensor) -> torch.Tensor:
    """z_k = (1/T) Σ_n U_{n,k}."""
    return voltage.mean(dim=0)


READOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"max": max_over_time, "sum": mean_over_time}


def check_loss(name: str) -> str:
    if name not in READOUTS:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(READOUTS)}")
    return name


def cross_entropy(name: str, voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy of the logits z = READOUTS[name](U); returns (mean loss, z)."""
    logits = READOUTS[check_loss(name)](voltage)
    return F.cross_entropy(logits, labels), logits
