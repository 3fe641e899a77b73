r"""Surrogate gradients: the Heaviside spike in the forward pass, a pseudo-derivative SG(v) in the backward pass.

.. math::

    z = \Theta(v), \qquad v = V - \vartheta, \qquad \frac{\partial z}{\partial v} := \mathrm{SG}(v)

The family of Herranz-Celotti & Rouat ("Stabilizing Spiking Neuron Training", arXiv 2202.00282, Fig. 1) with
dampening γ (peak), sharpness β (width) and tail-fatness q, normalised so that every shape has
SG(0) = γ and ∫SG dv = γ/β:

=================  =====================================================
triangular         γ max(0, 1 − β|v|)
exponential        γ e^{−2β|v|}
gaussian           γ e^{−π(βv)²}
sigmoid            4γ σ(4βv)(1 − σ(4βv))          (∂ sigmoid)
fast_sigmoid       γ / (1 + 2β|v|)²               (∂ fast sigmoid; SuperSpike, Zenke & Ganguli 2018)
rectangular        γ 1[|v| < 1/(2β)]
q_pseudospike      γ / (1 + 2β|v|/(q − 1))^q       (q = 2: fast_sigmoid; q → ∞: exponential)
cauchy             γ / (1 + (πβv)²)
=================  =====================================================
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import torch


class SurrogateParams(NamedTuple):
    """Which pseudo-derivative a surrogate-gradient engine uses, and its dampening, sharpness and tail."""

    shape: str = "fast_sigmoid"
    sharpness: float = 5.0  # β, 1/membrane units: the area under SG is γ/β
    dampening: float = 1.0  # γ = SG(0)
    tail: float = 1.56  # q, q_pseudospike only (> 1); the paper's default


def _triangular(v, p):
    return p.dampening * (1 - p.sharpness * v.abs()).clamp(min=0)


def _exponential(v, p):
    return p.dampening * torch.exp(-2 * p.sharpness * v.abs())


def _gaussian(v, p):
    return p.dampening * torch.exp(-math.pi * (p.sharpness * v) ** 2)


def _sigmoid(v, p):
    s = torch.sigmoid(4 * p.sharpness * v)
    return 4 * p.dampening * s * (1 - s)


def _fast_sigmoid(v, p):
    if torch.is_grad_enabled() and v.requires_grad:  # differentiable: the plain expression
        return p.dampening / (1 + 2 * p.sharpness * v.abs()) ** 2
    # the same operations, so the same bits, in place on one buffer (the backward scans' hot path)
    return v.abs().mul_(2 * p.sharpness).add_(1).pow_(2).reciprocal_().mul_(p.dampening)


def _rectangular(v, p):
    return p.dampening * (2 * p.sharpness * v.abs() < 1).to(v.dtype)


def _q_pseudospike(v, p):
    return p.dampening / (1 + 2 * p.sharpness * v.abs() / (p.tail - 1)) ** p.tail


def _cauchy(v, p):
    return p.dampening / (1 + (math.pi * p.sharpness * v) ** 2)


SURROGATES: dict[str, Callable[[torch.Tensor, SurrogateParams], torch.Tensor]] = {
    "triangular": _triangular,
    "exponential": _exponential,
    "gaussian": _gaussian,
    "sigmoid": _sigmoid,
    "fast_sigmoid": _fast_sigmoid,
    "rectangular": _rectangular,
    "q_pseudospike": _q_pseudospike,
    "cauchy": _cauchy,
}
PAPER_SHAPES = ("triangular", "exponential", "gaussian", "sigmoid", "fast_sigmoid", "rectangular")  # Fig. 2


def check_surrogate(p: SurrogateParams) -> SurrogateParams:
    """Raise ValueError for an unknown shape or a non-positive γ or β (q ≤ 1 for q_pseudospike); return ``p``."""
    if p.shape not in SURROGATES:
        raise ValueError(f"unknown surrogate {p.shape!r}; choose one of {sorted(SURROGATES)}")
    for name in ("sharpness", "dampening"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"surrogate {name} must be a positive number, got {value!r}")
    if p.shape == "q_pseudospike" and not (math.isfinite(p.tail) and p.tail > 1):
        raise ValueError(f"q_pseudospike needs tail q > 1, got {p.tail!r}")
    return p


def pseudo_derivative(v: torch.Tensor, p: SurrogateParams) -> torch.Tensor:
    """SG(v) of the shape ``p.shape`` (module docstring table), elementwise."""
    return SURROGATES[check_surrogate(p).shape](v, p)


class SurrogateSpike(torch.autograd.Function):
    """z = Θ(v) forward; backward returns grad · SG(v)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, p: SurrogateParams) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.params = p
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (v,) = ctx.saved_tensors
        return grad * pseudo_derivative(v, ctx.params), None


def spike(v: torch.Tensor, p: SurrogateParams = SurrogateParams()) -> torch.Tensor:
    """Heaviside spike z = Θ(v) whose gradient is the pseudo-derivative SG(v) of ``p``."""
    return SurrogateSpike.apply(v, check_surrogate(p))
