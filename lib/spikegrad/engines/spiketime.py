r"""Reverse-mode backprop through spike times with the recursion over each neuron's own spikes (Bacho & Chu,
arXiv 2212.09500, extending Fast & Deep to many spikes per neuron).

Model and partial derivatives: :mod:`spikegrad.engines.events`. Given e_k = ∂L/∂t_k for the spikes of neuron n
(from the loss and from later layers), the total error of each spike, counting its effect on the neuron's
later spikes through the reset, is computed from the last spike to the first (O(K) per neuron):

.. math::

    \bar E_k = e_k + \sum_{m > k} \bar E_m \frac{\partial t_m}{\partial t_k}
    = e_k + R_k, \qquad
    R_k = e^{-(t_{k+1} - t_k)/\tau_m} \left(\frac{\vartheta \bar E_{k+1}}{\tau_m \dot V_{k+1}} + R_{k+1}\right).

With g_k = −Ē_k / V̇_k the gradients are

.. math::

    \frac{\partial L}{\partial w_{nj}} = \sum_k g_k \sum_{f:\, t_j^f < t_k} \kappa(t_k - t_j^f), \qquad
    \frac{\partial L}{\partial t_j^f} = -\sum_n w_{nj} \sum_{k:\, t_k > t_j^f} g_k\, \kappa'(t_k - t_j^f).

The backward pass of a layer, :func:`layer_backward`, runs the Numba kernel
(:mod:`spikegrad.kernels.spiketime_cpu`: per sample and neuron, cost proportional to the (post spike, earlier
input spike) pairs) for CPU tensors when numba is installed, else the PyTorch reference
(:func:`layer_backward_ref`: all pairs of a sample at once, in chunks of samples that bound memory).
"""

import torch

from spikegrad.engines.events import SLOPE_FLOOR, EventOptions, finite_grad, kappa, ratio_of, simulate, slope
from spikegrad.model import LIFParams

try:
    from spikegrad.kernels import spiketime_cpu
    from spikegrad.kernels.event_sim_cpu import threads
except ImportError:  # numba not installed: the reference still works
    spiketime_cpu = None

PAIR_BUDGET = 1 << 24  # (post spike, input spike) pairs evaluated at once


def total_errors(errors: torch.Tensor, times: torch.Tensor, vdot: torch.Tensor, lif: LIFParams) -> torch.Tensor:
    """Ē [B, N, K] from e = ∂L/∂t [B, N, K] by the reverse recursion of the module docstring."""
    total = torch.zeros_like(errors)
    carry = torch.zeros_like(errors[..., 0])  # R_k
    for k in range(errors.shape[-1] - 1, -1, -1):
        total[..., k] = errors[..., k] + carry
        if k > 0:
            gap = times[..., k] - times[..., k - 1]
            decay = torch.where(torch.isfinite(gap), torch.exp(-gap / lif.tau_mem), torch.zeros_like(gap))
            carry = decay * (lif.threshold * total[..., k] / (lif.tau_mem * vdot[..., k]) + carry)
    return total


def contract(g: torch.Tensor, out: torch.Tensor, times: torch.Tensor, lif: LIFParams):
    """Σ_k g_k κ(t_k − t_q) and Σ_k g_k κ'(t_k − t_q), each [B, N, Q], for post spikes ``out [B, N, K]`` and the
    input stream ``times [B, Q]``."""
    B, N, K = out.shape
    step = max(1, PAIR_BUDGET // max(N * K * times.shape[1], 1))
    parts = []
    for lo in range(0, max(B, 1), step):  # (one empty chunk when B = 0)
        k, dk = kappa(out[lo : lo + step, :, :, None] - times[lo : lo + step, None, None, :], lif)
        gb = g[lo : lo + step]
        parts.append((torch.einsum("bnk,bnkq->bnq", gb, k), torch.einsum("bnk,bnkq->bnq", gb, dk)))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def weight_and_input_grads(g, out, times, channels, weight, lif):
    """∂L/∂W [N, N_in] and ∂L/∂t_q [B, Q] from g_k = −Ē_k/V̇_k (module docstring)."""
    sum_k, sum_dk = contract(g, out, times, lif)
    N = weight.shape[0]
    grad_w = torch.zeros_like(weight).index_add_(1, channels.reshape(-1), sum_k.permute(1, 0, 2).reshape(N, -1))
    grad_t = -(weight[:, channels].permute(1, 0, 2) * sum_dk).sum(1)
    return grad_w, grad_t


def layer_backward_ref(grad_out, out, current, times, channels, weight, lif: LIFParams):
    """(∂L/∂t_q [B, Q], ∂L/∂W [N, N_in]) of a layer with output spikes ``out`` and currents ``current`` [B, N, K],
    input stream ``times``, ``channels`` [B, Q] and weights [N, N_in], from ∂L/∂t_k ``grad_out`` [B, N, K] (None:
    zero); module docstring."""
    vdot = slope(current, lif)
    errors = total_errors(finite_grad(grad_out, out), out, vdot, lif)
    g = torch.where(torch.isfinite(out), -errors / vdot, torch.zeros_like(errors))
    grad_w, grad_t = weight_and_input_grads(g, out, times, channels, weight, lif)
    return grad_t, grad_w


def layer_backward_numba(grad_out, out, current, times, channels, weight, lif: LIFParams):
    """:func:`layer_backward_ref` with the Numba CPU kernel (:mod:`spikegrad.kernels.spiketime_cpu`, on torch's
    number of threads)."""
    if weight.device.type != "cpu" or spiketime_cpu is None:
        raise ValueError("layer_backward_numba needs CPU tensors and numba installed")
    if weight.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"weight must be float32 or float64, got {weight.dtype}")
    ratio = ratio_of(lif)
    B, N, _ = out.shape
    grad_out = torch.zeros_like(out) if grad_out is None else grad_out
    grad_t = torch.zeros_like(times, dtype=weight.dtype)
    with threads(torch.get_num_threads(), B * N * times.shape[1]):  # ~ the (post spike, input spike) pairs
        parts = weight.new_zeros(spiketime_cpu.chunks(B), *weight.shape)  # ∂L/∂W per chunk of samples
        if B * N > 0 and times.shape[1] > 0:
            spiketime_cpu.layer_backward(
                *(x.detach().contiguous().numpy() for x in (grad_out, out, current, times, channels, weight)),
                grad_t.numpy(), parts.numpy(), lif.tau_mem, lif.tau_syn, lif.threshold, ratio,
                SLOPE_FLOOR * lif.threshold / lif.tau_mem,
            )  # fmt: skip
    return grad_t, parts.sum(0)


def layer_backward(grad_out, out, current, times, channels, weight, lif: LIFParams):
    """Dispatch: the Numba kernel for CPU tensors when numba is installed, else the reference."""
    if spiketime_cpu is not None and weight.device.type == "cpu":
        return layer_backward_numba(grad_out, out, current, times, channels, weight, lif)
    return layer_backward_ref(grad_out, out, current, times, channels, weight, lif)


class _Layer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, weight, channels, out, current, lif):
        ctx.lif = lif
        ctx.save_for_backward(times, weight, channels, out, current)
        return out.clone()

    @staticmethod
    def backward(ctx, grad_out):
        times, weight, channels, out, current = ctx.saved_tensors
        grad_t, grad_w = layer_backward(grad_out, out, current, times, channels, weight, ctx.lif)
        return grad_t, grad_w, None, None, None, None


def layer(in_times: torch.Tensor, weight: torch.Tensor, lif: LIFParams, options: EventOptions) -> torch.Tensor:
    """Output spike times [B, N, K] (+inf padding) of a layer driven by ``in_times [B, N_in, K_in]``;
    differentiable in ``in_times`` and ``weight`` (module docstring)."""
    times, channels, out, current = simulate(in_times, weight, lif, options)
    return _Layer.apply(times, weight, channels, out, current, lif)
