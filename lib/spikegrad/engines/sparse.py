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
(powers of α and β). What needs δ_t:

- ∇W = δᵀx over the non-zero presynaptic spikes only (nnz(x)·N instead of T·B·N·N_in);
- ∂L/∂x sampled on the *upstream* layer's active set (|A_in|·N instead of T·B·N·N_in): the upstream layer
  multiplies it by its own truncated surrogate, so elsewhere it would be discarded. It is handed upstream as a
  coalesced sparse COO tensor on A_in (zero elsewhere); the gradients of all parameters are exact. The first
  layer's input gets the dense product if it needs a gradient.

Recurrent layers (h'_t = h_t + W_rec z_{t−1}) add ∂L/∂z_t += (δ_{t+1} W_rec) — needed on A_t only — and
∇W_rec = Σ_t δ_{t+1}ᵀ z_t over the non-zero spikes.

The backward pass of a layer is :func:`spikegrad.kernels.sparse_grad.layer_backward`: on the CPU one compiled
whole-trial kernel that walks each sample backwards with the adjoint state of its N neurons and never materialises
δ [T, B, N] (:mod:`spikegrad.kernels.sparse_cpu`): O(T·B·N) for the scan plus O((nnz(x) + |A_in| + |A| +
spikes)·N) for the events; on CUDA the dense δ scan and the Triton products of :mod:`spikegrad.kernels.sparse_grad`.

The forward pass is the dense engine's: the input projection h = xWᵀ through
:func:`spikegrad.kernels.spike_linear.spike_linear` (event-driven for sparse spikes on the CPU) and the scans of
:mod:`spikegrad.engines.bptt` (:func:`~spikegrad.kernels.lif_scan.lif_scan_forward`,
:func:`~spikegrad.engines.bptt.recurrent_scan`). It then keeps only what the backward pass reads: the non-zero
inputs (the CSR the projection was computed from), A (sorted flat indices, int64, and U − ϑ there, from
:func:`spikegrad.kernels.sparse_grad.select`) and, for a recurrent layer, its spikes as events, instead of x, U and
z [T, B, N].

Exactness: the gradients equal dense BPTT (:mod:`spikegrad.engines.bptt`) with the surrogate truncated to A, for
any B_th, to rounding; B_th = ∞ (the default ``EngineOptions.active_band``) is plain dense BPTT. The readouts are
the dense ones of :mod:`spikegrad.engines.bptt` (a non-spiking readout has no surrogate to truncate).
"""

import torch

from spikegrad.engines import bptt
from spikegrad.engines.options import EngineOptions
from spikegrad.engines.stack import HiddenOutput, HiddenParams
from spikegrad.kernels.lif_scan import lif_scan_forward, scan_constants
from spikegrad.kernels.sparse_grad import RowEvents, layer_backward, row_events, select
from spikegrad.kernels.spike_linear import spike_linear, spike_rows
from spikegrad.model import LIFParams
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

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


def project(x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, RowEvents]:
    """(h = x Wᵀ [T, B, N], the non-zeros of x over rows t·B + b): h exactly as the dense engine computes it
    (:func:`spikegrad.kernels.spike_linear.spike_linear`: CSR(x) Wᵀ for sparse CPU inputs, else the dense
    product), from the one CSR of x that the backward pass keeps."""
    csr = spike_rows(x)
    return spike_linear(x, weight, csr=csr), row_events(csr)


class SparseLIF(torch.autograd.Function):
    """(z [T, B, N], sorted flat active index) of a LIF layer on presynaptic spikes x [T, B, N_in]; backward per the
    module docstring. ``upstream`` is the sorted flat active index of x's own layer (∂L/∂x sparse on it), or None
    (dense ∂L/∂x)."""

    @staticmethod
    def forward(ctx, x, weight, w_rec, upstream, lif: LIFParams, surrogate: SurrogateParams, band: float):
        k = scan_constants(lif)  # reset by subtraction, detached (checked by the engine)
        h, inputs = project(x, weight)
        if w_rec is None:
            z, u = lif_scan_forward(h, k.alpha, k.beta, k.c, k.theta, "subtract")
        else:
            z, u = bptt.recurrent_scan(h, w_rec, k)
        del h
        index, value, spikes = select(u.view(-1, u.shape[-1]), lif.threshold, band, w_rec is not None)
        del u
        own = spikes[:3] if spikes is not None else (None,) * 3
        ctx.save_for_backward(weight, w_rec, upstream, index, value, *inputs[:3], *own)
        ctx.k, ctx.surrogate, ctx.n_in = k, surrogate, inputs.n_cols
        ctx.mark_non_differentiable(index)
        ctx.set_materialize_grads(False)
        return z, index

    @staticmethod
    def backward(ctx, grad_z, _):
        weight, w_rec, upstream, index, value, *events = ctx.saved_tensors
        if grad_z is None:
            return (None,) * 7
        inputs = RowEvents(*events[:3], ctx.n_in)
        spikes = RowEvents(*events[3:], grad_z.shape[-1]) if w_rec is not None else None
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], w_rec is not None and ctx.needs_input_grad[2])
        sg = pseudo_derivative(value, ctx.surrogate)
        grads = layer_backward(grad_z, index, sg, inputs, weight, upstream, w_rec, spikes, ctx.k, needs)
        return *grads, None, None, None, None


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
