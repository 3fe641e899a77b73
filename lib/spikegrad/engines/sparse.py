r"""Sparse surrogate-gradient backprop (Perez-Nieves & Goodman, "Sparse Spiking Gradient Descent", NeurIPS 2021):
the backward pass only touches *active* entries, those whose pre-reset voltage is near threshold,

.. math:: A = \{(t, b, j) : |U_{tbj} - \vartheta| < B_\text{th}\},

and uses the surrogate truncated to A, σ'_A(U − ϑ) = σ'(U − ϑ)·1_A. The neuron is the current-based LIF of
:mod:`spikegrad.model` with reset by subtraction and no gradient through the reset (the paper's model). Then the
reverse scan of :mod:`spikegrad.kernels.lif_scan` is linear with a sparse source: per layer, with
e = ∂L/∂z ⊙ σ'_A (non-zero on A only),

.. math::

    g_U^t = a_V^t + e_t, \qquad \delta_t = \frac{\partial L}{\partial h_t} = c\, g_U^t + \beta a_I^t, \qquad
    a_V^{t-1} = \alpha g_U^t, \qquad a_I^{t-1} = \delta_t

so that δ_t = Σ_{s ≥ t} r_{s−t} e_s with r_n = c(α^{n+1} − β^{n+1})/(α − β): across inactive steps δ only decays
(powers of α and β). From δ [T, B, N] the layer needs two products (:mod:`spikegrad.kernels.sparse_grad`):

- ∇W = δᵀx over the non-zero presynaptic spikes only (nnz(x)·N instead of T·B·N·N_in);
- ∂L/∂x sampled on the *upstream* layer's active set (|A_in|·N instead of T·B·N·N_in): the upstream layer
  multiplies it by its own truncated surrogate, so elsewhere it would be discarded. It is left zero there; the
  gradients of all parameters are exact. The first layer's input gets the dense product if it needs a gradient.

Recurrent layers (h'_t = h_t + W_rec z_{t−1}) add ∂L/∂z_t += (δ_{t+1} W_rec) — needed on A_t only, sampled per
step — and ∇W_rec = Σ_t δ_{t+1}ᵀ z_t over the non-zero spikes.

Exactness: the gradients equal dense BPTT (:mod:`spikegrad.engines.bptt`) with the surrogate truncated to A, for
any B_th; B_th = ∞ (the default ``EngineOptions.active_band``) is plain dense BPTT. Memory: the forward pass keeps
the indices (int64) and values U − ϑ of A instead of U [T, B, N]. The readouts are the dense ones of
:mod:`spikegrad.engines.bptt` (a non-spiking readout has no surrogate to truncate).
"""

import math

import torch

from spikegrad.engines import bptt
from spikegrad.engines.options import EngineOptions
from spikegrad.engines.stack import HiddenOutput, HiddenParams
from spikegrad.kernels.lif_scan import ScanConstants, lif_scan_backward, lif_scan_forward, scan_constants
from spikegrad.kernels.sparse_grad import input_grad_sparse, weight_grad_sparse
from spikegrad.model import LIFParams
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

DENSE_ABOVE = 0.25  # use the dense product δᵀx when more than this fraction of x is non-zero

readout = bptt.readout
readout_spikes = bptt.readout_spikes


def check_sparse(lif: LIFParams, options: EngineOptions) -> None:
    """The engine's model: reset by subtraction, detached reset, B_th > 0 (ValueError otherwise)."""
    if lif.reset != "subtract" or not options.detach_reset:
        raise ValueError(
            "the sparse engine needs reset='subtract' and detach_reset=True (Perez-Nieves & Goodman's model), "
            f"got reset={lif.reset!r}, detach_reset={options.detach_reset}"
        )
    if not options.active_band > 0:
        raise ValueError(f"active_band (B_th) must be positive, got {options.active_band!r}")


def weight_product(delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """δᵀx [N, N_in] for δ [R, N], x [R, N_in]: over the non-zeros of x, or dense when x is mostly non-zero."""
    if torch.count_nonzero(x) > DENSE_ABOVE * x.numel():
        return delta.T @ x
    return weight_grad_sparse(delta, x)


def recurrent_delta(
    grad_z: torch.Tensor, index: torch.Tensor, sg: torch.Tensor, w_rec: torch.Tensor, k: ScanConstants
) -> torch.Tensor:
    """δ [T, B, N] of a recurrent layer: the reverse scan (module docstring) with
    e_t = σ'_A ⊙ (∂L/∂z_t + δ_{t+1} W_rec) evaluated on A_t only."""
    T, B, N = grad_z.shape
    step = B * N
    starts = torch.searchsorted(index, torch.arange(T + 1, device=index.device) * step).tolist()
    delta = torch.empty_like(grad_z)
    a_v = a_i = torch.zeros(B, N, dtype=grad_z.dtype, device=grad_z.device)
    for t in reversed(range(T)):
        g_u = a_v.clone()
        lo, hi = starts[t], starts[t + 1]
        if hi > lo:
            local = index[lo:hi] - t * step
            g = grad_z[t].flatten()[local]
            if t + 1 < T:
                g = g + input_grad_sparse(delta[t + 1], w_rec, local)
            g_u.view(-1).index_add_(0, local, g * sg[lo:hi])
        delta[t] = k.c * g_u + k.beta * a_i
        a_v, a_i = k.alpha * g_u, delta[t]
    return delta


class SparseLIF(torch.autograd.Function):
    """(z [T, B, N], active index) of a LIF layer on presynaptic spikes x [T, B, N_in]; backward per the module
    docstring. ``upstream`` is the sorted flat active index of x's own layer, or None (dense ∂L/∂x)."""

    @staticmethod
    def forward(ctx, x, weight, w_rec, upstream, lif: LIFParams, surrogate: SurrogateParams, band: float):
        k = scan_constants(lif)  # reset by subtraction, detached (checked by the engine)
        h = x @ weight.T
        if w_rec is None:
            z, u = lif_scan_forward(h, k.alpha, k.beta, k.c, k.theta, "subtract")
        else:
            z, u = bptt.recurrent_scan(h, w_rec, k)
        del h
        v = (u - lif.threshold).flatten()
        del u
        index = (v.abs() < band).nonzero().squeeze(1)
        value = v[index]
        # z is kept only for a recurrent layer's ∇W_rec; a feed-forward layer keeps just A (indices, U − ϑ)
        ctx.save_for_backward(x, weight, w_rec, z if w_rec is not None else None, index, value, upstream)
        ctx.k, ctx.surrogate, ctx.shape = k, surrogate, z.shape
        ctx.mark_non_differentiable(index)
        ctx.set_materialize_grads(False)
        return z, index

    @staticmethod
    def backward(ctx, grad_z, _):
        x, weight, w_rec, z, index, value, upstream = ctx.saved_tensors
        if grad_z is None:
            return (None,) * 7
        k = ctx.k
        T, B, N = ctx.shape
        rows, n_in = T * B, x.shape[-1]
        sg = pseudo_derivative(value, ctx.surrogate)
        if w_rec is None:
            delta = grad_z.new_zeros(T * B * N)
            delta[index] = grad_z.reshape(-1)[index] * sg  # e, overwritten by δ in place
            delta = delta.view(T, B, N)
            lif_scan_backward(None, delta, delta, None, k.alpha, k.beta, k.c, math.inf, "subtract", out=delta)
        else:
            delta = recurrent_delta(grad_z, index, sg, w_rec, k)
        flat = delta.view(rows, N)
        grad_x = grad_w = grad_rec = None
        if ctx.needs_input_grad[0]:
            if upstream is None:
                grad_x = (flat @ weight).view(T, B, n_in)
            else:
                grad_x = x.new_zeros(rows * n_in)
                grad_x[upstream] = input_grad_sparse(flat, weight, upstream)
                grad_x = grad_x.view(T, B, n_in)
        if ctx.needs_input_grad[1]:
            grad_w = weight_product(flat, x.reshape(rows, n_in))
        if w_rec is not None and ctx.needs_input_grad[2]:
            grad_rec = weight_product(delta[1:].reshape(-1, N), z[:-1].reshape(-1, N))
        return grad_x, grad_w, grad_rec, None, None, None, None


def hidden_stack(x, layers: list[HiddenParams], lif: LIFParams, options: EngineOptions = EngineOptions()):
    """Spikes, counts and active fractions |A|/(T·B·N) of every hidden layer; each layer's active index samples
    the next layer's input gradient (module docstring)."""
    check_sparse(lif, options)
    spikes, counts, active = [], [], []
    upstream = None
    for p in layers:
        if p.tau is not None:
            raise ValueError("the sparse engine has fixed time constants (train_tau needs engine='eventprop')")
        z, upstream = SparseLIF.apply(x, p.weight, p.recurrent, upstream, lif, options.surrogate, options.active_band)
        spikes.append(z)
        counts.append(z.sum(0))
        active.append(len(upstream) / max(z.numel(), 1))
        x = z
    return HiddenOutput(spikes, counts, active)


def hidden_layer(x, weight, recurrent, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """(z [T, B, N], spike counts [B, N]) of one LIF layer driven by presynaptic spikes x [T, B, N_in]."""
    out = hidden_stack(x, [HiddenParams(weight, recurrent)], lif, options)
    return out.spikes[0], out.counts[0]
