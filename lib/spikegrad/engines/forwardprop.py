r"""Forward propagation (FP) of spike-time derivatives: forward-mode differentiation on the spike graph of the
event-based LIF network of :mod:`spikegrad.engines.events`, in causal order (Lee, Haghighatshoar & Karbasi,
"Exact gradient computation for spiking neural networks via forward propagation", AISTATS 2023, PMLR
206:1812-1831).

**Recursion.** Differentiating V_n(t_k) = ϑ (the implicit function theorem of :mod:`~spikegrad.engines.events`)
gives the tangent dt_k of spike k of neuron n from the tangents of everything that caused it: the weights, the
input spikes t_j^f before t_k, and the neuron's own earlier spikes t_m (through the reset),

.. math::

    dt_k = -\frac{1}{\dot V_k}\left[\sum_{j,f:\, t_j^f < t_k} \kappa(t_k - t_j^f)\, dw_{nj}
    - \sum_{j,f:\, t_j^f < t_k} w_{nj}\,\kappa'(t_k - t_j^f)\, dt_j^f
    - \frac{\vartheta}{\tau_m} \sum_{m < k} e^{-(t_k - t_m)/\tau_m}\, dt_m\right],

with V̇_k = (I(t_k) − ϑ)/τ_m (:func:`~spikegrad.engines.events.slope`); the three terms are the ∂t_k/∂w,
∂t_k/∂t_j^f and ∂t_k/∂t_m of :mod:`~spikegrad.engines.events`. Layers are processed in order, so the input
tangents dt_j^f are known when a layer is reached; within a layer only the reset term couples a neuron's spikes,
and it is carried over k = 1..K by R_k = Σ_{m<k} e^{−(t_k−t_m)/τ_m} dt_m = e^{−(t_k−t_{k−1})/τ_m}(R_{k−1} +
dt_{k−1}). Everything else is vectorised over samples, neurons and the tangent dimension.

**Two uses.** :func:`jvp` pushes one tangent per spike (a directional derivative along given weight directions):
about the cost of one more forward pass. :func:`network` pushes the full Jacobian — P tangents per spike, P the
number of weights — so the gradient of any loss of the spike times is a contraction, done in the backward pass
of one ``torch.autograd.Function`` spanning the whole network. That costs O(#spikes · P), against
O(#spikes · fan-in) for reverse mode (:mod:`~spikegrad.engines.spiketime`, :mod:`~spikegrad.engines.adjoint`),
and stores [B, N, K, P] per layer, so it is for small networks (a memory budget is enforced). Spike times of a
layer depend only on the weights of that layer and earlier ones, so layer l stores only those columns, and
only as many spike slots K as some neuron of the batch uses.

**Hebbian reading.** The direct term of ∂t_k/∂w_nj is −κ-trace/V̇_k: the presynaptic trace Σ_f κ(t_k − t_j^f)
of channel j, read at the postsynaptic firing time t_k, divided by the slope of the membrane potential there —
a local pre × post quantity, as in spike-timing-dependent plasticity; the other two terms carry the dependence
through earlier spikes forward in time, as an online learning rule would (Lee et al.'s motivation).

Gradients flow to the weights only: **input spike times get no gradient** from FP (their tangents are taken as
zero). Use a reverse-mode engine when ∂L/∂t_in is needed.
"""

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from spikegrad.engines.events import EventOptions, finite_grad, kappa, simulate, slope
from spikegrad.model import LIFParams

JACOBIAN_BUDGET = 1 << 27  # elements of the stored tangents (Σ over ops of B·N·K·P) that `network` may allocate


class LIF(NamedTuple):
    """A dense LIF layer (:func:`spikegrad.engines.events.simulate`) driven by the previous op's spikes."""

    weight: torch.Tensor  # [N, N_in]
    lif: LIFParams
    options: EventOptions


class Gather(NamedTuple):
    """A rearrangement of the previous op's spikes (pooling, concatenation): ``index_fn(times [B, N, K])``
    returns ``index [B, N', K']`` (long) into the flattened per-sample N·K slots, −1 for "no spike" (+inf). The
    output is ``times.reshape(B, -1).gather(1, index)`` with −1 → +inf; ``index_fn`` gets detached times."""

    index_fn: Callable[[torch.Tensor], torch.Tensor]


class _Op(NamedTuple):
    """What the sweep keeps of one op: the output times [B, N, K], the slots kept (the last column with a
    spike, K_eff), the tangents of the kept slots [B, N, K_eff, P] (None: all zero) and, for a Gather, the
    index into the previous op's kept slots [B, N', K'] (−1: no spike) used to route gradients back."""

    times: torch.Tensor
    kept: int
    tangents: torch.Tensor | None
    index: torch.Tensor | None = None


def _kept(times: torch.Tensor) -> int:
    """1 + the last slot index holding a finite time in any sample and neuron (at least 1)."""
    cols = torch.isfinite(times).flatten(0, -2).any(0).nonzero()
    return int(cols.max().item()) + 1 if cols.numel() else 1


def _stream_order(times: torch.Tensor) -> torch.Tensor:
    """The slot order of :func:`spikegrad.engines.events.input_stream` ([B, Q] into the flattened N·K)."""
    flat = times.reshape(times.shape[0], -1)
    n = int(torch.isfinite(flat).sum(1).max().item()) if flat.numel() else 0
    return torch.argsort(flat, dim=1, stable=True)[:, : max(n, 1)]


def _lif_tangents(
    out: torch.Tensor,
    vdot: torch.Tensor,
    stream: torch.Tensor,
    channels: torch.Tensor,
    d_stream: torch.Tensor | None,
    weight: torch.Tensor,
    lif: LIFParams,
    direction: torch.Tensor | None,
    full: bool,
    own_spike_terms: bool,
) -> torch.Tensor:
    """Tangents [B, N, K, P] of the spikes ``out [B, N, K]`` by the module recursion.

    ``stream [B, Q]``, ``channels [B, Q]``: the input spikes; ``d_stream [B, Q, P]`` their tangents (None: 0).
    ``full``: append this layer's N·N_in weight columns to the P input columns (Jacobian); else P = 1 and the
    weight tangent is ``direction [N, N_in]`` (None: 0)."""
    B, N, K = out.shape
    n_in = weight.shape[1]
    kap, dkap = kappa(out[..., None] - stream[:, None, None, :], lif)  # [B, N, K, Q]
    # rhs = Σ κ dw − Σ w κ' dt_in, the bracket of the recursion without the reset term, [B, N, K, P]
    p_in = 0 if d_stream is None else d_stream.shape[-1]
    rhs = out.new_zeros(B, N, K, p_in + N * n_in if full else 1)
    if p_in > 0:
        w_q = weight[:, channels].permute(1, 0, 2)  # w_{n, c_q} [B, N, Q]
        coef = (dkap * w_q[:, :, None, :]).reshape(B, N * K, -1)
        rhs[..., :p_in] = -torch.bmm(coef, d_stream).view(B, N, K, p_in)
    if full:  # this layer's columns: ∂/∂w_{n'j} is nonzero only for n' = n, where it is the trace Σ_f κ
        trace = out.new_zeros(B, N, K, n_in).scatter_add_(3, channels[:, None, None, :].expand(B, N, K, -1), kap)
        block = rhs[..., p_in:].view(B, N, K, N, n_in)  # a view of rhs
        torch.diagonal(block, dim1=1, dim2=3).copy_(trace.permute(0, 2, 3, 1))
    elif direction is not None:
        d_q = direction[:, channels].permute(1, 0, 2)  # dw_{n, c_q} [B, N, Q]
        rhs += torch.einsum("bnkq,bnq->bnk", kap, d_q)[..., None]
    dt = rhs  # overwritten in place: slot k of rhs is last read when dt_k is written
    live = torch.isfinite(out)[..., None]
    carry = torch.zeros_like(rhs[:, :, 0])  # R_k [B, N, P]
    reset = lif.threshold / lif.tau_mem
    for k in range(K):
        if k > 0 and own_spike_terms:
            gap = out[..., k] - out[..., k - 1]
            decay = torch.where(torch.isfinite(gap), torch.exp(-gap / lif.tau_mem), torch.zeros_like(gap))
            carry = decay[..., None] * (carry + dt[:, :, k - 1])
        num = rhs[:, :, k] - reset * carry
        dt[:, :, k] = torch.where(live[:, :, k], -num / vdot[:, :, k, None], torch.zeros_like(num))
    return dt


def _gather(src: _Op, index_fn: Callable[[torch.Tensor], torch.Tensor]) -> _Op:
    """Apply a :class:`Gather` to ``src``: output times, kept slots, tangents and the index into src's kept slots."""
    times = src.times
    B, N, K = times.shape
    index = index_fn(times.detach())
    if not isinstance(index, torch.Tensor) or index.dtype != torch.long or index.ndim != 3 or index.shape[0] != B:
        raise ValueError(f"Gather.index_fn must return a long tensor [B={B}, N', K'], got {index!r:.80}")
    if index.numel() and (int(index.min()) < -1 or int(index.max()) >= N * K):
        raise ValueError(f"Gather index out of range [-1, {N * K}) for times of shape {tuple(times.shape)}")
    index = index.to(times.device)
    flat = times.reshape(B, -1).gather(1, index.clamp(min=0).reshape(B, -1)).view(index.shape)
    out = torch.where(index >= 0, flat, torch.full_like(flat, math.inf))
    # the same slots among src's kept ones (slots beyond the kept ones hold no spike)
    slot = index % K
    mapped = torch.where((index >= 0) & (slot < src.kept), index // K * src.kept + slot, -1)
    kept = _kept(out)
    mapped = mapped[..., :kept]
    tangents = None
    if src.tangents is not None:
        P = src.tangents.shape[-1]
        g = src.tangents.reshape(B, -1, P).gather(1, mapped.clamp(min=0).reshape(B, -1, 1).expand(-1, -1, P))
        g = g.view(*mapped.shape, P)
        tangents = torch.where((mapped >= 0)[..., None], g, torch.zeros_like(g))
    return _Op(out, kept, tangents, mapped)


def _lif(src: _Op, op: LIF, weight: torch.Tensor, direction, full: bool, own_spike_terms: bool, check=None) -> _Op:
    """Apply a :class:`LIF` op to ``src``: simulate, then the tangents of the kept slots. ``check(n)`` is called
    with the number of tangent elements before they are allocated."""
    x = src.times[..., : src.kept]
    stream, channels, out, current = simulate(x, weight, op.lif, op.options)
    order = _stream_order(x)
    if not torch.equal(order // src.kept, channels):  # guards the slot bookkeeping against input_stream changes
        raise RuntimeError("forwardprop's stream order disagrees with events.input_stream")
    kept = _kept(out)
    p_in = 0 if src.tangents is None else src.tangents.shape[-1]
    if check is not None:
        check(out.shape[0] * out.shape[1] * kept * (p_in + weight.numel() if full else 1))
    d_stream = None
    if src.tangents is not None:
        d_stream = src.tangents.reshape(x.shape[0], -1, p_in).gather(1, order[..., None].expand(-1, -1, p_in))
        d_stream = torch.where(torch.isfinite(stream)[..., None], d_stream, torch.zeros_like(d_stream))
    o = out[..., :kept]
    vdot = slope(current[..., :kept], op.lif)
    dt = _lif_tangents(o, vdot, stream, channels, d_stream, weight, op.lif, direction, full, own_spike_terms)
    return _Op(out, kept, dt)


def _check_ops(ops: Sequence) -> list:
    ops = list(ops)
    if not ops:
        raise ValueError("ops must hold at least one forwardprop.LIF or forwardprop.Gather")
    for i, op in enumerate(ops):
        if not isinstance(op, LIF | Gather):
            raise ValueError(f"ops[{i}] must be forwardprop.LIF or forwardprop.Gather, got {type(op).__name__}")
        if isinstance(op, LIF) and op.weight.ndim != 2:
            raise ValueError(f"ops[{i}].weight must be [N, N_in], got shape {tuple(op.weight.shape)}")
    return ops


def _padded(op: _Op) -> torch.Tensor:
    """The tangents of one op as [B, N, K] (P = 1 squeezed, zeros beyond the kept slots)."""
    full = torch.zeros_like(op.times)
    if op.tangents is not None:
        full[..., : op.kept] = op.tangents[..., 0]
    return full


def jvp(
    in_times: torch.Tensor,
    ops: Sequence[LIF | Gather],
    directions: Sequence[torch.Tensor | None],
    *,
    own_spike_terms: bool = True,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run the network and push one tangent per spike: the derivative of every spike time along the weight
    directions (one per LIF op, shaped like its weight, None for zero; or one per op, None for the Gather ops).

    Returns the output times [B, N, K] (+inf padding) and tangents [B, N, K] (0 at padding) of every op,
    detached. Input spike times are held fixed. ``own_spike_terms=False`` drops the reset term of the recursion
    (the wrong gradient of a model that ignores a neuron's own earlier spikes; for comparisons only)."""
    ops = _check_ops(ops)
    lif_ops = [i for i, op in enumerate(ops) if isinstance(op, LIF)]
    directions = list(directions)
    if len(directions) == len(ops):
        per_op = directions
        if any(d is not None for i, d in enumerate(per_op) if isinstance(ops[i], Gather)):
            raise ValueError("directions given per op must be None for the Gather ops")
    elif len(directions) == len(lif_ops):
        per_op = [None] * len(ops)
        for i, d in zip(lif_ops, directions, strict=True):
            per_op[i] = d
    else:
        raise ValueError(
            f"need one direction per LIF op ({len(lif_ops)}) or per op ({len(ops)}), got {len(directions)}"
        )
    with torch.no_grad():
        src = _Op(in_times.detach(), in_times.shape[-1], None)
        done = []
        for i, op in enumerate(ops):
            if isinstance(op, Gather):
                src = _gather(src, op.index_fn)
            else:
                d = per_op[i]
                if d is not None:
                    if d.shape != op.weight.shape:
                        raise ValueError(f"direction {i} has shape {tuple(d.shape)}, weight {tuple(op.weight.shape)}")
                    d = d.detach().to(op.weight)
                src = _lif(src, op, op.weight.detach(), d, False, own_spike_terms)
            done.append(src)
    return [o.times for o in done], [_padded(o) for o in done]


def _sweep_full(in_times: torch.Tensor, ops: list, weights: Sequence[torch.Tensor], budget: int) -> list[_Op]:
    """The forward sweep with the full Jacobian; raises ValueError beyond ``budget`` stored elements."""
    src = _Op(in_times.detach(), in_times.shape[-1], None)
    done, used = [], [0]

    def check(n: int) -> None:
        if used[0] + n > budget:
            raise _too_big(used[0] + n, budget)
        used[0] += n

    lif_weights = iter(weights)
    for op in ops:
        if isinstance(op, Gather):
            src = _gather(src, op.index_fn)
            if src.tangents is not None:
                check(src.tangents.numel())
        else:
            src = _lif(src, op, next(lif_weights), None, True, True, check)
        done.append(src)
    return done


def _too_big(need: int, budget: int) -> ValueError:
    return ValueError(
        f"forwardprop.network would store {need:,} Jacobian elements (spike slots x weights), over the budget of "
        f"{budget:,}: the full forward-mode gradient costs O(#spikes x #weights). Use forwardprop.jvp for "
        "directional derivatives or a reverse-mode engine (spiketime, adjoint) for the gradient."
    )


class _Network(torch.autograd.Function):
    @staticmethod
    def forward(ctx, in_times, ops, budget, *weights):
        done = _sweep_full(in_times, ops, weights, budget)
        ctx.ops, ctx.kept = ops, [o.kept for o in done]
        ctx.shapes = [w.shape for w in weights]
        saved = []
        for op, o in zip(ops, done, strict=True):
            saved.append(o.times)
            saved.append(o.index if isinstance(op, Gather) else o.tangents)  # Jacobian [B, N, K_eff, P_l]
        ctx.save_for_backward(*saved)
        return tuple(o.times.clone() for o in done)

    @staticmethod
    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        ops = ctx.ops
        total = sum(math.prod(s) for s in ctx.shapes)
        ref = saved[0]
        grad_vec = ref.new_zeros(total)
        routed: list[torch.Tensor | None] = [None] * len(ops)  # gradients sent back to op i's kept slots
        for i in range(len(ops) - 1, -1, -1):
            times, extra, kept = saved[2 * i], saved[2 * i + 1], ctx.kept[i]
            g = finite_grad(grads[i], times)[..., :kept]
            if routed[i] is not None:
                g = g + routed[i]
            if isinstance(ops[i], Gather):
                if i == 0:
                    continue  # the input spike times get no gradient from FP
                index = extra
                B = g.shape[0]
                src_kept = ctx.kept[i - 1]
                src_shape = (B, saved[2 * (i - 1)].shape[1], src_kept)
                back = g.new_zeros(B, math.prod(src_shape[1:]))
                back.scatter_add_(1, index.clamp(min=0).reshape(B, -1), torch.where(index >= 0, g, 0.0).reshape(B, -1))
                back = back.view(src_shape)
                routed[i - 1] = back if routed[i - 1] is None else routed[i - 1] + back
            elif extra is not None:
                jac = extra
                grad_vec[: jac.shape[-1]] += torch.einsum("bnkp,bnk->p", jac, g)
        out, offset = [], 0
        for shape in ctx.shapes:
            n = math.prod(shape)
            out.append(grad_vec[offset : offset + n].view(shape))
            offset += n
        return (None, None, None, *out)


def network(
    in_times: torch.Tensor, ops: Sequence[LIF | Gather], *, budget: int = JACOBIAN_BUDGET
) -> list[torch.Tensor]:
    """Output spike times [B, N, K] (+inf padding) of every op, differentiable with respect to the weight of
    every :class:`LIF` op through one autograd function: its forward propagates the full Jacobian of every spike
    time with respect to all weights (module docstring), its backward only contracts. ``in_times`` gets no
    gradient. Raises ValueError when the Jacobians would exceed ``budget`` elements (use :func:`jvp` or a
    reverse-mode engine then)."""
    ops = _check_ops(ops)
    weights = [op.weight for op in ops if isinstance(op, LIF)]
    return list(_Network.apply(in_times, ops, budget, *weights))
