"""Dense backpropagation through time with a surrogate gradient (equations: :mod:`spikegrad.model`).

Feed-forward layers project all time steps at once (h = x Wᵀ) and run the time loop as one autograd Function,
:class:`LIFScan`, whose forward and reverse scans are the kernels in :mod:`spikegrad.kernels.lif_scan`
(Triton on CUDA, PyTorch elsewhere). It stores the pre-reset voltage U [T, B, N] for the backward pass.
Recurrent layers step through time with :func:`spikegrad.model.lif_step` and let autograd unroll the loop.
"""

import math

import torch

from spikegrad.kernels.lif_scan import lif_scan_backward, lif_scan_forward
from spikegrad.model import LIFParams, decay_factors, lif_step, rest_state
from spikegrad.surrogate import SurrogateParams, spike, surrogate_derivative


class LIFScan(torch.autograd.Function):
    """(z, U) = LIF time loop over input currents h [T, B, N]; ``surrogate=None`` makes a non-spiking LI layer.

    Backward: the reverse scan of :func:`spikegrad.kernels.lif_scan.lif_scan_bwd_ref` with
    σ'(U − ϑ) from the surrogate.
    """

    @staticmethod
    def forward(ctx, h, lif: LIFParams, surrogate: SurrogateParams | None, detach_reset: bool):
        alpha, beta, c = decay_factors(lif)
        theta = lif.threshold if surrogate is not None else math.inf
        z, u = lif_scan_forward(h, alpha, beta, c, theta, lif.reset)
        ctx.save_for_backward(u)
        ctx.args = (alpha, beta, c, theta, lif.reset, detach_reset)
        ctx.surrogate = surrogate
        ctx.set_materialize_grads(False)
        return z, u

    @staticmethod
    def backward(ctx, grad_z, grad_u):
        (u,) = ctx.saved_tensors
        alpha, beta, c, theta, reset, detach_reset = ctx.args
        sg = None
        if ctx.surrogate is not None:
            sg = surrogate_derivative(ctx.surrogate.shape)(u - theta, ctx.surrogate.slope)
        grad_h = lif_scan_backward(grad_z, grad_u, u, sg, alpha, beta, c, theta, reset, detach_reset)
        return grad_h, None, None, None


def hidden_layer(
    x: torch.Tensor,
    weight: torch.Tensor,
    recurrent: torch.Tensor | None,
    lif: LIFParams,
    surrogate: SurrogateParams = SurrogateParams(),
    detach_reset: bool = True,
) -> torch.Tensor:
    """Spikes z [T, B, N] of a LIF layer driven by presynaptic spikes x [T, B, N_in]."""
    h = x @ weight.T
    if recurrent is None:
        return LIFScan.apply(h, lif, surrogate, detach_reset)[0]

    def spike_fn(v):
        return spike(v, surrogate.shape, surrogate.slope)

    state = rest_state(x.shape[1], weight.shape[0], h)
    z = torch.zeros_like(state.v)
    spikes = []
    for h_t in h:
        z, _, state = lif_step(h_t + z @ recurrent.T, state, lif, spike_fn, detach_reset)
        spikes.append(z)
    return torch.stack(spikes)


def readout(x: torch.Tensor, weight: torch.Tensor, lif: LIFParams) -> torch.Tensor:
    """Membrane voltage U [T, B, C] of the non-spiking leaky-integrator readout driven by spikes x."""
    return LIFScan.apply(x @ weight.T, lif, None, True)[1]
