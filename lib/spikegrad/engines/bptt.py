"""Dense backpropagation through time with a surrogate gradient (equations: :mod:`spikegrad.model`).

Every layer projects all time steps of its input at once, h = x Wᵀ, event-driven when x is sparse spikes
(:func:`spikegrad.kernels.spike_linear.spike_linear` sums the non-zero inputs only). Feed-forward layers run
the time loop as one autograd Function, :class:`LIFScan`, whose forward and reverse scans are the kernels in
:mod:`spikegrad.kernels.lif_scan` (Triton on CUDA, Numba on the CPU). It stores the pre-reset voltage
U [T, B, N] for the backward pass.
Recurrent layers, whose input depends on their own last spikes, run the same steps in
:class:`RecurrentLIFScan` with a hand-written reverse loop (no autograd graph per step).
"""

import math

import torch

from spikegrad.engines.options import EngineOptions
from spikegrad.engines.stack import HiddenOutput, stack_layers
from spikegrad.kernels.lif_scan import (
    ScanConstants,
    lif_scan_backward,
    lif_scan_forward,
    lif_step_bwd_ref,
    lif_step_ref,
    scan_constants,
)
from spikegrad.kernels.spike_linear import spike_linear
from spikegrad.model import LIFParams, crossing_fraction, step_average
from spikegrad.surrogate import SurrogateParams, pseudo_derivative


class LIFScan(torch.autograd.Function):
    """(z, U) = LIF time loop over input currents h [T, B, N] with the constants ``k``; ``k.spiking`` False makes
    a non-spiking LI layer (ϑ = ∞, no surrogate).

    Backward: the reverse scan of :func:`spikegrad.kernels.lif_scan.lif_scan_bwd_ref` with σ'(U − ϑ) from the
    surrogate.
    """

    @staticmethod
    def forward(ctx, h, k: ScanConstants, surrogate: SurrogateParams | None):
        theta = k.theta if k.spiking else math.inf
        reset = "subtract" if k.subtract else "zero"
        z, u = lif_scan_forward(h, k.alpha, k.beta, k.c, theta, reset)
        ctx.save_for_backward(u)
        ctx.args = (k.alpha, k.beta, k.c, theta, reset, k.detach_reset)
        ctx.surrogate = surrogate if k.spiking else None
        ctx.set_materialize_grads(False)
        return z, u

    @staticmethod
    def backward(ctx, grad_z, grad_u):
        (u,) = ctx.saved_tensors
        alpha, beta, c, theta, reset, detach_reset = ctx.args
        sg = None
        if ctx.surrogate is not None:
            sg = pseudo_derivative(u - theta, ctx.surrogate)
        grad_h = lif_scan_backward(grad_z, grad_u, u, sg, alpha, beta, c, theta, reset, detach_reset)
        return grad_h, None, None


def recurrent_scan(h: torch.Tensor, w_rec: torch.Tensor, k: ScanConstants) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, U) [T, B, N] of the forward time loop with recurrent input, h'_t = h_t + W_rec z_{t−1}."""
    z, u = torch.zeros_like(h), torch.empty_like(h)
    v = i = z_prev = torch.zeros_like(h[0])
    for t in range(h.shape[0]):
        z[t], u[t], v, i = lif_step_ref(h[t] + z_prev @ w_rec.T, v, i, k)
        z_prev = z[t]
    return z, u


class RecurrentLIFScan(torch.autograd.Function):
    """z = LIF time loop with recurrent input: h'_n = h_n + W_rec z_{n−1} (model docstring).

    Forward and reverse steps are :func:`~spikegrad.kernels.lif_scan.lif_step_ref` and
    :func:`~spikegrad.kernels.lif_scan.lif_step_bwd_ref`; in reverse, ∂L/∂z_n also receives
    W_recᵀ ∂L/∂h'_{n+1}, and ∂L/∂W_rec = Σ_n (∂L/∂h'_{n+1})ᵀ z_n.
    """

    @staticmethod
    def forward(ctx, h, w_rec, lif: LIFParams, surrogate: SurrogateParams, detach_reset: bool):
        k = scan_constants(lif, detach_reset=detach_reset)
        z, u = recurrent_scan(h, w_rec, k)
        ctx.save_for_backward(u, z, w_rec)
        ctx.constants, ctx.surrogate = k, surrogate
        return z

    @staticmethod
    def backward(ctx, grad_z):
        u, z, w_rec = ctx.saved_tensors
        k = ctx.constants
        sg = pseudo_derivative(u - k.theta, ctx.surrogate)
        grad_h = torch.empty_like(u)
        a_v = a_i = g_next = torch.zeros_like(u[0])
        for t in reversed(range(u.shape[0])):
            grad_h[t], a_v, a_i = lif_step_bwd_ref(grad_z[t] + g_next @ w_rec, None, u[t], sg[t], a_v, a_i, k)
            g_next = grad_h[t]
        grad_w_rec = grad_h[1:].flatten(0, 1).T @ z[:-1].flatten(0, 1)
        return grad_h, grad_w_rec, None, None, None


def hidden_layer(
    x: torch.Tensor,
    weight: torch.Tensor,
    recurrent: torch.Tensor | None,
    lif: LIFParams,
    options: EngineOptions = EngineOptions(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z [T, B, N], spike counts [B, N]) of a LIF layer driven by presynaptic spikes x [T, B, N_in]."""
    h = spike_linear(x, weight)
    if recurrent is None:
        z = LIFScan.apply(h, scan_constants(lif, detach_reset=options.detach_reset), options.surrogate)[0]
    else:
        z = RecurrentLIFScan.apply(h, recurrent, lif, options.surrogate, options.detach_reset)
    return z, z.sum(0)


def readout(x: torch.Tensor, weight: torch.Tensor, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """Step-averaged membrane voltage Ū [T, B, C] of the non-spiking leaky-integrator readout driven by spikes x
    (:func:`spikegrad.model.step_average`)."""
    return step_average(LIFScan.apply(spike_linear(x, weight), scan_constants(lif, spiking=False), None)[1], lif)


def readout_spikes(x: torch.Tensor, weight: torch.Tensor, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """First-spike times [B, C] (ms, +inf if silent) of a LIF readout: the threshold crossing interpolated inside
    the step n of the first spike, t = (n + f)Δt with f = (ϑ − V_{n−1})/(U_n − V_{n−1}) (as the EventProp engine
    reports it); differentiable through U and, for which step fires first, through the surrogate."""
    k = scan_constants(lif, detach_reset=options.detach_reset)
    z, u = LIFScan.apply(spike_linear(x, weight), k, options.surrogate)
    before = torch.cat([torch.ones_like(z[:1]), torch.cumprod(1 - z, dim=0)[:-1]])  # no spike before step n
    first = z * before
    reset = z.detach() if options.detach_reset else z
    v = u * (1 - reset) if lif.reset == "zero" else u - lif.threshold * reset  # V after each step
    v_prev = torch.cat([torch.zeros_like(v[:1]), v[:-1]])
    frac = crossing_fraction(v_prev, u, lif.threshold)
    steps = torch.arange(z.shape[0], dtype=z.dtype, device=z.device).view(-1, *([1] * (z.dim() - 1)))
    t = lif.dt * (first * (steps + frac)).sum(0)
    return torch.where(z.detach().sum(0) > 0, t, math.inf)


def hidden_stack(x, layers, lif: LIFParams, options: EngineOptions = EngineOptions()) -> HiddenOutput:
    """Spikes and counts of every hidden layer (:func:`spikegrad.engines.stack.stack_layers`)."""
    return stack_layers(hidden_layer, x, layers, lif, options)
