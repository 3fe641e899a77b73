r"""Surrogate gradients: the Heaviside spike in the forward pass, a smooth pseudo-derivative in the backward pass.

.. math::

    z = \Theta(x), \qquad x = V - \vartheta

    \text{fast\_sigmoid:}\quad \frac{\partial z}{\partial x} \approx \sigma'(x) = \frac{1}{(\beta |x| + 1)^2}

(Zenke & Ganguli 2018, "SuperSpike", Neural Comput. 30:1514; β is the sharpness ``slope``.)
"""

from collections.abc import Callable
from typing import NamedTuple

import torch


def fast_sigmoid_derivative(x: torch.Tensor, slope: float) -> torch.Tensor:
    """σ'(x) = 1 / (slope·|x| + 1)², the derivative of the fast sigmoid x / (1 + slope·|x|) scaled by slope."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


SURROGATES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "fast_sigmoid": fast_sigmoid_derivative,
}


def surrogate_derivative(name: str) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """The pseudo-derivative σ'(x; slope) registered under ``name``."""
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    return SURROGATES[name]


class SurrogateSpike(torch.autograd.Function):
    """z = Θ(x) forward; backward returns grad · σ'(x; slope) for the named surrogate."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.name, ctx.slope = name, slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(ctx.name)(x, ctx.slope), None, None


def spike(x: torch.Tensor, surrogate: str = "fast_sigmoid", slope: float = 10.0) -> torch.Tensor:
    """Heaviside spike z = Θ(x) with the surrogate gradient ``surrogate`` of sharpness ``slope``."""
    surrogate_derivative(surrogate)  # fail early on an unknown name
    return SurrogateSpike.apply(x, surrogate, slope)


class SurrogateParams(NamedTuple):
    """Which pseudo-derivative a surrogate-gradient engine uses, and its sharpness."""

    shape: str = "fast_sigmoid"
    slope: float = 10.0  # β, 1/membrane units
