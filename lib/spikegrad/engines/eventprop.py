r"""Discrete-grid EventProp: exact event-based adjoint gradients (Wunderlich & Pehle 2021, Sci. Rep. 11:12829;
the GeNN implementation of Nowotny, Turner & Knight, arXiv 2212.01232).

The forward pass is the grid model of :mod:`spikegrad.model` (zero reset) and stores only spike events (step,
neuron, τ_m V̇ = I − ϑ at the threshold crossing) in per-neuron buffers (:mod:`spikegrad.kernels.eventprop`),
never the V or I traces. The backward pass integrates W&P's adjoint (λ = −∂L/∂state, scaled: λ_V = −(1/τ_m)∂L/∂V,
λ_I = −(1/τ_s)∂L/∂I) backwards in time from λ(T) = 0:

.. math::

    \tau_m \lambda_V' = -\lambda_V - \frac{\partial l_V}{\partial V}, \qquad
    \tau_s \lambda_I' = -\lambda_I + \lambda_V \qquad (' = -d/dt)

with the exact per-step solution, a jump at each spike k of neuron j

.. math::

    \lambda_V^- = \lambda_V^+ + \frac{\vartheta \lambda_V^+ + \sum_i w_{ij}(\lambda_V^+ - \lambda_I)_i
    + \partial l_p / \partial t_k}{\tau_m \dot V^-}, \qquad \tau_m \dot V^- = (I - V)^-

and the weight gradient :math:`\partial L/\partial w_{ji} = -\tau_s \sum_{\text{spikes of } i} \lambda_{I,j}`,
collected only at presynaptic events. :math:`\sum_i w_{ij}(\lambda_V - \lambda_I)_i` is ∂L/∂t_k through the
targets of spike k; a layer hands it to the layer below as the gradient of that spike.

**Gradient convention.** A LIF layer returns (z, counts, first): spikes z [T, B, N], spikes per neuron [B, N]
and first-spike times [B, N] (ms, +inf if silent; the threshold crossing interpolated inside its step,
t = (n + f)Δt, f = (ϑ − V_{n−1})/(U_n − V_{n−1}), so spike-time losses see more than the grid). The gradient arriving at
z is read as ∂L/∂t_k of each spike (at z = 1; ignored elsewhere), so layers and spike-time losses compose. The
gradient at ``first`` is added to the first spike's ∂L/∂t; for a silent neuron it is applied at the end of the
trial as a *phantom spike*, λ_V += (∂L/∂t)/ϑ (Nowotny et al.'s rule for a silent correct output: there is no
exact gradient of a missing spike). The gradient at ``counts`` uses W&P's spike-count rule (N = Σ_k V(t_k^-)/ϑ):
λ_V −= (∂L/∂N)/(ϑ τ_m) at each spike — a heuristic, used for the firing-rate regulariser. The LI readout returns
the step-averaged voltage Ū [T, B, C] (Ū_n = (1/Δt)∫ V over step n); ∂L/∂Ū_n is then a drive constant over step
n, λ_V relaxing to A = −(1/Δt)∂L/∂Ū_n — the exact gradient of any loss of Ū, and for losses F(Σ_n w_n Ū_n) the
constant or time-weighted drive of loss shaping without any special case. (Sampling V at step ends instead would
turn the drive into a train of impulses whose λ_V − λ_I never vanishes: a spurious O(Δt/τ) error signal at
every hidden spike that swamps the real one on long trials.)

**Grid error.** Spikes are detected at step ends and, between layers, enter the next layer at the start of the
same step (the grid model's convention), so EventProp is the gradient of the continuous-time model up to O(Δt);
readout weights are exact.

**Scale.** Losses here are means over the batch of cross-entropies of (1/T)Σ_n w(s_n) U_n. The paper's drive
(δ − softmax)/(τ_m T N_batch) is the same gradient up to the factor τ_m/Δt from sampling the integral on the
grid; Adam is invariant to such constant factors, regulariser strengths are not (set them per study).
"""

import math
from contextlib import contextmanager

import torch

from spikegrad.engines.options import EngineOptions
from spikegrad.engines.stack import HiddenOutput, stack_layers
from spikegrad.kernels.eventprop import (
    EventConstants,
    SpikeBuffer,
    StepEvents,
    empty_buffer,
    neuron_bwd_step,
    neuron_fwd_step,
    spiked_at,
    step_events,
    synapse_bwd_step,
)
from spikegrad.kernels.lif_scan import lif_scan_forward
from spikegrad.model import LIFParams, decay_factors, step_average

CHUNK = 32  # reverse steps whose λ are kept to run their synapse backward together
GROW_EVERY = 16  # steps between checks whether the spike buffer must grow (max_spikes=None)


_recorders: list[list[dict]] = []


@contextmanager
def record_adjoints():
    """Within the block, every EventProp layer's backward pass appends ``{"lambda_v", "lambda_i"}`` ([T, B, N],
    the adjoints at the start of each step, just after its input arrived) to the yielded list, in the order the
    layers run backwards (readout first). For analysis: it keeps the dense traces the engine otherwise avoids."""
    traces: list[dict] = []
    _recorders.append(traces)
    try:
        yield traces
    finally:
        _recorders.remove(traces)


class BufferOverflow(RuntimeError):
    """A neuron fired more often than the fixed spike buffer (``max_spikes``) holds."""


def constants(lif: LIFParams, tau: tuple[torch.Tensor, torch.Tensor] | None = None) -> EventConstants:
    """The step constants of ``lif``, or per neuron ([N] tensors) for trainable time constants ``tau``."""
    if lif.reset != "zero":
        raise ValueError(f"EventProp needs the zero reset (V <- 0 at a spike), got reset={lif.reset!r}")
    if tau is None:
        alpha, beta, c = decay_factors(lif)
        return EventConstants(alpha, beta, c, c * lif.tau_mem / lif.tau_syn, lif.threshold, lif.tau_mem, lif.tau_syn)
    tau_mem, tau_syn = (t.detach() for t in tau)
    alpha, beta = torch.exp(-lif.dt / tau_mem), torch.exp(-lif.dt / tau_syn)
    close = (tau_mem - tau_syn).abs() < 1e-6 * tau_mem
    gap = torch.where(close, 1.0, tau_mem - tau_syn)
    c = torch.where(close, lif.dt / tau_mem * alpha, tau_syn / gap * (alpha - beta))
    return EventConstants(alpha, beta, c, c * tau_mem / tau_syn, lif.threshold, tau_mem, tau_syn)


def _grow(buf: SpikeBuffer, capacity: int) -> SpikeBuffer:
    extra = capacity - buf.steps.shape[-1]
    return SpikeBuffer(
        torch.nn.functional.pad(buf.steps, (0, extra), value=-1),
        torch.nn.functional.pad(buf.imv, (0, extra)),
        buf.count,
        buf.first,
    )


def forward_scan(
    h: torch.Tensor, recurrent: torch.Tensor | None, k: EventConstants, max_spikes: int | None, traces: bool = False
):
    """Spikes z [T, B, N] and the spike buffer of a LIF layer with input currents h [T, B, N].

    With ``max_spikes=None`` the buffer starts with GROW_EVERY slots per neuron and doubles whenever a neuron
    could fill it within the next GROW_EVERY steps (one spike per step at most), so it never overflows; with an
    int, a neuron that fires more often raises :class:`BufferOverflow`. Returns (z, buffer, traces): with
    ``traces``, the dense (V before, I' after the input) of every step [T, B, N], which only the τ gradients
    need; else None."""
    steps, batch, n = h.shape
    buf = empty_buffer(batch, n, max_spikes if max_spikes is not None else min(steps, GROW_EVERY), h)
    z = torch.zeros_like(h)
    v = i = h.new_zeros(batch, n)
    v_before, i_after = (torch.empty_like(h), torch.empty_like(h)) if traces else (None, None)
    for t in range(steps):
        if max_spikes is None and t % GROW_EVERY == 0 and buf.steps.shape[-1] < steps:
            need = int(buf.count.max()) + GROW_EVERY
            if need > buf.steps.shape[-1]:
                buf = _grow(buf, min(steps, max(need, 2 * buf.steps.shape[-1])))
        h_t = h[t] if recurrent is None or t == 0 else h[t] + z[t - 1] @ recurrent.T
        if traces:
            v_before[t], i_after[t] = v, i + h_t
        z[t], v, i = neuron_fwd_step(h_t, v, i, buf, t, k)
    most = int(buf.count.max()) if buf.count.numel() else 0
    if max_spikes is not None and most > max_spikes:
        raise BufferOverflow(
            f"a neuron fired {most} times but the EventProp spike buffer holds max_spikes={max_spikes}; "
            "raise max_spikes (or leave it None to grow the buffer)"
        )
    if max_spikes is None and most < buf.steps.shape[-1]:  # keep only the slots in use for the backward pass
        keep = max(most, 1)
        buf = SpikeBuffer(buf.steps[..., :keep].clone(), buf.imv[..., :keep].clone(), buf.count, buf.first)
    return z, buf, (v_before, i_after) if traces else None


def backward_scan(
    k: EventConstants,
    shape: tuple[int, int, int],
    events: StepEvents,
    weight: torch.Tensor,
    need_grad_x: bool,
    buf: SpikeBuffer | None = None,
    recurrent: torch.Tensor | None = None,
    grad_z: torch.Tensor | None = None,
    drive: torch.Tensor | None = None,
    jump: torch.Tensor | None = None,
    g_first: torch.Tensor | None = None,
    traces: tuple[torch.Tensor, torch.Tensor, float] | None = None,
):
    """Reverse pass of one layer; returns (∂L/∂x [T, B, N_in] or None, ∂L/∂W, ∂L/∂W_rec or None, ∂L/∂τ or None),
    the last, given ``traces`` = (V before, I' after the input, Δt) of every step, (∂L/∂τ_m, ∂L/∂τ_s) per neuron:

    ∂L/∂τ_m = ∫ λ_V (I − V)/τ_m dt, ∂L/∂τ_s = −∫ λ_I I/τ_s dt (W&P's adjoint; one rectangle per step, at its start).

    The neuron update runs step by step; the feed-forward synapse backward, which does not feed back into it,
    runs once per CHUNK steps on the λ of those steps (fewer, larger event batches)."""
    steps, batch, n = shape
    lam_v = weight.new_zeros(batch, n)
    lam_i = weight.new_zeros(batch, n)
    grad_w = torch.zeros_like(weight)
    grad_rec = torch.zeros_like(recurrent) if recurrent is not None else None
    grad_x_chunks, chunk_v, chunk_i, chunk_end = [], [], [], steps
    grad_tau_mem = grad_tau_syn = None
    if traces is not None:
        grad_tau_mem, grad_tau_syn = weight.new_zeros(n), weight.new_zeros(n)
    trace_v, trace_i = [], []
    ptr = None
    if buf is not None:
        ptr = buf.count.clamp(max=buf.steps.shape[-1]) - 1
        if g_first is not None:  # phantom spike at the end of the trial for silent neurons
            lam_v = lam_v + torch.where(buf.count == 0, g_first / k.theta, 0.0)
    g_rec = None
    for t in reversed(range(steps)):
        g = grad_z[t] if grad_z is not None else None
        if g_rec is not None:
            g = g_rec if g is None else g + g_rec
        lam_v, lam_i = neuron_bwd_step(
            lam_v, lam_i, t, k, buf, ptr, g, g_first, jump, None if drive is None else drive[t]
        )
        chunk_v.append(lam_v)
        chunk_i.append(lam_i)
        if traces is not None:
            v_before, i_after, dt = traces
            grad_tau_mem += dt * (lam_v * (i_after[t] - v_before[t])).sum(0) / k.tau_mem
            grad_tau_syn -= dt * (lam_i * i_after[t]).sum(0) / k.tau_syn
        if recurrent is not None and t > 0:  # own spikes of step t − 1 arrived at the start of step t
            prev = spiked_at(buf, ptr, t - 1)[0].to(lam_v.dtype)
            grad_rec.sub_((lam_i * k.tau_syn).T @ prev)
            g_rec = ((lam_v - lam_i) @ recurrent) * prev
        if len(chunk_v) == CHUNK or t == 0:  # synapse backward for the events of steps t .. chunk_end − 1
            lo, hi = events.offsets[t], events.offsets[chunk_end]
            rows = (events.step[lo:hi].long() - t) * batch + events.batch[lo:hi]
            grad_x_chunks.append(
                synapse_bwd_step(
                    torch.stack(chunk_v[::-1]).view(-1, n), torch.stack(chunk_i[::-1]).view(-1, n), rows,
                    events.channel[lo:hi].long(), events.value[lo:hi], weight, grad_w, k, need_grad_x,
                )
            )  # fmt: skip
            if _recorders:
                trace_v.extend(chunk_v)
                trace_i.extend(chunk_i)
            chunk_v, chunk_i, chunk_end = [], [], t
    for recorder in _recorders:
        recorder.append({"lambda_v": torch.stack(trace_v[::-1]), "lambda_i": torch.stack(trace_i[::-1])})
    grad_x = None
    if need_grad_x:
        grad_x = weight.new_zeros(steps, batch, weight.shape[1])
        grad_x[events.step.long(), events.batch.long(), events.channel.long()] = torch.cat(grad_x_chunks[::-1])
    grad_tau = None if traces is None else (grad_tau_mem, grad_tau_syn)
    return grad_x, grad_w, grad_rec, grad_tau


class EventPropLIF(torch.autograd.Function):
    """(z, counts, first) of a LIF layer driven by spikes x [T, B, N_in] (module docstring); with per-neuron
    time constants ``tau_mem``, ``tau_syn`` [N] (or None: those of ``lif``) it also returns their gradients."""

    @staticmethod
    def forward(ctx, x, weight, recurrent, tau_mem, tau_syn, lif: LIFParams, max_spikes: int | None):
        trainable = tau_mem is not None
        k = constants(lif, (tau_mem, tau_syn) if trainable else None)
        z, buf, traces = forward_scan(x @ weight.T, recurrent, k, max_spikes, traces=trainable)
        events = step_events(x)
        counts = buf.count.to(x.dtype)
        first_time = (buf.steps[..., 0].to(x.dtype) + buf.first) * lif.dt  # interpolated crossing time
        first = torch.where(buf.count > 0, first_time, math.inf)
        ctx.save_for_backward(weight, recurrent, *buf, *events[1:], *(traces or ()))
        ctx.k, ctx.offsets, ctx.shape, ctx.dt, ctx.trainable = k, events.offsets, z.shape, lif.dt, trainable
        ctx.set_materialize_grads(False)
        return z, counts, first

    @staticmethod
    def backward(ctx, grad_z, grad_counts, grad_first):
        weight, recurrent, steps, imv, count, first, *rest = ctx.saved_tensors
        events, traces = (rest[:-2], (*rest[-2:], ctx.dt)) if ctx.trainable else (rest, None)
        k = ctx.k
        jump = None if grad_counts is None else -grad_counts / (k.theta * k.tau_mem)
        grad_x, grad_w, grad_rec, grad_tau = backward_scan(
            k, ctx.shape, StepEvents(ctx.offsets, *events), weight, ctx.needs_input_grad[0],
            SpikeBuffer(steps, imv, count, first), recurrent, grad_z, None, jump, grad_first, traces,
        )  # fmt: skip
        grad_tau_mem, grad_tau_syn = grad_tau or (None, None)
        return grad_x, grad_w, grad_rec, grad_tau_mem, grad_tau_syn, None, None


class EventPropLI(torch.autograd.Function):
    """Step-averaged voltage Ū [T, B, C] of a non-spiking leaky-integrator readout driven by spikes x
    (:func:`spikegrad.model.step_average`); ∂L/∂Ū_n is a drive constant over step n, A = −(1/Δt)∂L/∂Ū_n."""

    @staticmethod
    def forward(ctx, x, weight, lif: LIFParams):
        k = constants(lif)
        u = step_average(lif_scan_forward(x @ weight.T, k.alpha, k.beta, k.c, math.inf)[1], lif)
        events = step_events(x)
        ctx.save_for_backward(weight, *events[1:])
        ctx.k, ctx.offsets, ctx.shape, ctx.dt = k, events.offsets, u.shape, lif.dt
        return u

    @staticmethod
    def backward(ctx, grad_u):
        weight, *events = ctx.saved_tensors
        grad_x, grad_w, _, _ = backward_scan(
            ctx.k, ctx.shape, StepEvents(ctx.offsets, *events), weight, ctx.needs_input_grad[0],
            drive=-grad_u / ctx.dt,
        )  # fmt: skip
        return grad_x, grad_w, None


def hidden_layer(x, weight, recurrent, lif: LIFParams, options: EngineOptions = EngineOptions(), tau=None):
    """(z [T, B, N], spike counts [B, N]) of a LIF layer driven by spikes x [T, B, N_in]; ``tau`` = trainable
    per-neuron (τ_m, τ_s) [N] tensors, or None for those of ``lif``."""
    tau_mem, tau_syn = (None, None) if tau is None else tau
    z, counts, _ = EventPropLIF.apply(x, weight, recurrent, tau_mem, tau_syn, lif, options.max_spikes)
    return z, counts


def readout(x, weight, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """Step-averaged membrane voltage Ū [T, B, C] of the non-spiking readout."""
    return EventPropLI.apply(x, weight, lif)


def readout_spikes(x, weight, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """First-spike times [B, C] (ms, +inf if silent) of a LIF readout."""
    return EventPropLIF.apply(x, weight, None, None, None, lif, options.max_spikes)[2]


def hidden_stack(x, layers, lif: LIFParams, options: EngineOptions = EngineOptions()) -> HiddenOutput:
    """Spikes and counts of every hidden layer (:func:`spikegrad.engines.stack.stack_layers`)."""
    return stack_layers(hidden_layer, x, layers, lif, options)
