r"""Classification losses on the readout voltage U [T, B, C]; each returns (mean loss, logits [B, C]).

With s_n = (n + 1)/T the relative time at the end of step n (U_n is the voltage there) and y the label:

.. math::

    \text{weighted sums:}\quad z_k = \frac{1}{T}\sum_{n=0}^{T-1} w(s_n)\, U_{n,k}, \qquad
    L = -\log \operatorname{softmax}(z)_y

    w = 1 \;(\texttt{sum}), \quad e^{-s} \;(\texttt{sum\_weigh\_exp}), \quad 1 - s \;(\texttt{sum\_weigh\_linear}),
    \quad \frac{1}{1 + e^{(s - 0.5)/0.2}} \;(\texttt{sum\_weigh\_sigmoid})

    \texttt{max:}\quad z_k = \max_n U_{n,k}, \qquad L = -\log \operatorname{softmax}(z)_y

    \texttt{avg\_xentropy:}\quad L = \frac{1}{T}\sum_n -\log \operatorname{softmax}(U_n)_y,
    \quad z = \text{the } \texttt{sum} \text{ logits (for the prediction)}

(Nowotny, Turner & Knight, arXiv 2212.01232: L_sum, L_sum_exp — "loss shaping" — and L_max; the per-step
cross-entropy is Wunderlich & Pehle's l_V; the weight functions follow ``genn_eventprop``'s ``LOSS_TYPE``
options.) The prediction is argmax_k z_k. Every loss is averaged over the batch. Losses are plain torch functions
of U, so every engine differentiates them the same way; for EventProp the gradient arriving at U is the
adjoint's drive.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

TIME_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sum": torch.ones_like,
    "sum_weigh_exp": lambda s: torch.exp(-s),
    "sum_weigh_linear": lambda s: 1.0 - s,
    "sum_weigh_sigmoid": lambda s: torch.sigmoid(-(s - 0.5) / 0.2),
}


def weighted_mean_over_time(voltage: torch.Tensor, weight: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """z_k = (1/T) Σ_n w(s_n) U_{n,k} with s_n = (n + 1)/T."""
    steps = voltage.shape[0]
    s = torch.arange(1, steps + 1, dtype=voltage.dtype, device=voltage.device) / steps
    return torch.einsum("n,nbc->bc", weight(s), voltage) / steps


def max_over_time(voltage: torch.Tensor) -> torch.Tensor:
    """z_k = max_n U_{n,k}."""
    return voltage.amax(dim=0)


def _weighted(name: str):
    def loss(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = weighted_mean_over_time(voltage, TIME_WEIGHTS[name])
        return F.cross_entropy(logits, labels), logits

    return loss


def _max(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = max_over_time(voltage)
    return F.cross_entropy(logits, labels), logits


def _avg_xentropy(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    steps, batch, classes = voltage.shape
    per_step = F.cross_entropy(voltage.reshape(steps * batch, classes), labels.repeat(steps))
    return per_step, weighted_mean_over_time(voltage, TIME_WEIGHTS["sum"])


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    **{name: _weighted(name) for name in TIME_WEIGHTS},
    "max": _max,
    "avg_xentropy": _avg_xentropy,
}


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return name


def cross_entropy(name: str, voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss ``name`` (module docstring) of readout voltages U [T, B, C]; returns (mean loss, logits)."""
    return LOSSES[check_loss(name)](voltage, labels)
