r"""Discrete-grid EventProp: exact event-based adjoint gradients (Wunderlich & Pehle 2021, Sci. Rep. 11:12829;
the GeNN implementation of Nowotny, Turner & Knight, arXiv 2212.01232).

The forward pass is the grid model of :mod:`spikegrad.model` (zero reset) and stores only spike events (step,
neuron, τ_m V̇ = I − ϑ at the threshold crossing), never the V or I traces. Spikes travel between layers as
per-sample event lists (:class:`SpikeTrain`), never as dense rasters, and each layer's forward and backward trial
is one compiled kernel call (:mod:`spikegrad.kernels.eventprop`: Numba on the CPU, Triton on CUDA) whose
synaptic work is proportional to the events. The backward pass integrates W&P's adjoint (λ = −∂L/∂state,
scaled: λ_V = −(1/τ_m)∂L/∂V, λ_I = −(1/τ_s)∂L/∂I) backwards in time from λ(T) = 0:

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

**Gradient convention.** A LIF layer returns (spikes, counts, first): its spikes as a :class:`SpikeTrain`, spikes
per neuron [B, N] and first-spike times [B, N] (ms, +inf if silent; the threshold crossing interpolated inside its
step, t = (n + f)Δt, f = (ϑ − V_{n−1})/(U_n − V_{n−1}), so spike-time losses see more than the grid). The gradient
arriving at the value of each spike event is read as ∂L/∂t_k of that spike, so layers and spike-time losses
compose (a dense input raster gets the same per event, zero elsewhere). The
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
from typing import NamedTuple

import torch

from spikegrad.engines.options import BufferOverflow, EngineOptions
from spikegrad.engines.stack import HiddenOutput, stack_layers
from spikegrad.kernels.event_lists import EventList, LayerConstants, dense_from_events, sample_of
from spikegrad.kernels.eventprop import events_from_dense, trial_backward, trial_forward
from spikegrad.model import LIFParams, decay_factors, step_average_coefficients

GROW_SLOTS = 32  # spike slots per neuron of a first attempt when max_spikes is None (samples that fire more re-run)

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


class SpikeTrain(NamedTuple):
    """Spikes of a layer as per-sample event lists; the gradient of ``events.value`` is ∂L/∂t of each spike."""

    events: EventList
    steps: int  # T
    units: int  # N

    def dense(self) -> torch.Tensor:
        """The raster z [T, B, N] (memory T·B·N: for plots and tests)."""
        return dense_from_events(self.events, self.steps, self.units)


def spike_train(x: torch.Tensor | SpikeTrain) -> SpikeTrain:
    """``x`` itself, or the events of a dense raster x [T, B, N] (differentiable in x where it is non-zero)."""
    if isinstance(x, SpikeTrain):
        return x
    events = events_from_dense(x.detach())
    if x.requires_grad:
        events = events._replace(value=x[events.step.long(), sample_of(events), events.unit.long()])
    return SpikeTrain(events, x.shape[0], x.shape[2])


def constants(lif: LIFParams, n: int, like: torch.Tensor, tau=None) -> LayerConstants:
    """Per-neuron step constants [N] of ``lif``, or of trainable time constants ``tau`` = (τ_m, τ_s) [N]."""
    if lif.reset != "zero":
        raise ValueError(f"EventProp needs the zero reset (V <- 0 at a spike), got reset={lif.reset!r}")
    if tau is None:
        alpha, beta, c = decay_factors(lif)
        values = (alpha, beta, c, c * lif.tau_mem / lif.tau_syn, lif.tau_mem, lif.tau_syn)
        return LayerConstants(*(like.new_full((n,), v) for v in values), lif.threshold)
    tau_mem, tau_syn = (t.detach() for t in tau)
    alpha, beta = torch.exp(-lif.dt / tau_mem), torch.exp(-lif.dt / tau_syn)
    close = (tau_mem - tau_syn).abs() < 1e-6 * tau_mem
    gap = torch.where(close, 1.0, tau_mem - tau_syn)
    c = torch.where(close, lif.dt / tau_mem * alpha, tau_syn / gap * (alpha - beta))
    return LayerConstants(alpha, beta, c, c * tau_mem / tau_syn, tau_mem, tau_syn, lif.threshold)


def _exclusive_cumsum(lengths: torch.Tensor) -> torch.Tensor:
    """[0, l₀, l₀ + l₁, …] (len(lengths) + 1 entries, int64): the offsets of consecutive runs of ``lengths``."""
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64, device=lengths.device)
    offsets[1:] = torch.cumsum(lengths, 0)
    return offsets


def _subset(events: EventList, samples: torch.Tensor) -> EventList:
    """The events of ``samples`` (sorted sample indices) as an event list of their own."""
    chosen = torch.zeros(len(events.offsets) - 1, dtype=torch.bool, device=samples.device)
    chosen[samples] = True
    keep = chosen[sample_of(events)]
    return EventList(_exclusive_cumsum(events.offsets.diff()[samples]), *(x[keep] for x in events[1:]))


def forward_trial(inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, max_spikes: int | None, traces: bool):
    """(own spikes as an :class:`EventList` with value 1, τ_m V̇ per spike, the forward trial's other outputs) of a
    LIF layer (:func:`spikegrad.kernels.eventprop.trial_forward`).

    With ``max_spikes=None`` each sample gets room for GROW_SLOTS spikes per neuron and a sample that fired more
    runs again with room for all of them, so no spike is lost; with an int, a neuron that fires more often raises
    :class:`BufferOverflow`."""
    n = w_t.shape[1]
    capacity = n * (max_spikes if max_spikes is not None else min(steps, GROW_SLOTS))
    out = trial_forward(inputs, w_t, rec_t, k, steps, capacity, traces=traces)
    most = int(out.count.max()) if max_spikes is not None and out.count.numel() else 0
    if max_spikes is not None and most > max_spikes:
        raise BufferOverflow(
            f"a neuron fired {most} times but the EventProp spike buffer holds max_spikes={max_spikes}; "
            "raise max_spikes (or leave it None to grow the buffer)"
        )
    total = out.total
    slots = list(out[:3])  # per-sample spike slots [B, capacity]: step, unit, τ_m V̇
    over = (total > capacity).nonzero().squeeze(1)
    if len(over):  # re-run the samples that fired more than the room they had, with room for all their spikes
        room = int(total[over].max())
        again = trial_forward(_subset(inputs, over), w_t, rec_t, k, steps, room)
        slots = [torch.cat([a, a.new_zeros(len(a), room - capacity)], 1).index_copy_(0, over, b)
                 for a, b in zip(slots, again[:3], strict=True)]  # fmt: skip
    used = torch.arange(slots[0].shape[1], device=total.device) < total[:, None]
    step, unit, imv = (a[used] for a in slots)  # sample by sample, in step order
    return EventList(_exclusive_cumsum(total), step, unit, torch.ones_like(imv)), imv, out


class EventPropLIF(torch.autograd.Function):
    """(spike values [E], counts [B, N], first-spike times [B, N], spike offsets, steps, units) of a LIF layer driven
    by the events (offsets, step, unit, value) of T steps (module docstring); with per-neuron time constants
    ``tau_mem``, ``tau_syn`` [N] (or None: those of ``lif``) it also returns their gradients."""

    @staticmethod
    def forward(ctx, value, weight, recurrent, tau_mem, tau_syn, offsets, step, unit, steps, lif, max_spikes):
        trainable = tau_mem is not None
        k = constants(lif, weight.shape[0], weight, (tau_mem, tau_syn) if trainable else None)
        inputs = EventList(offsets, step, unit, value)
        rec_t = None if recurrent is None else recurrent.T.contiguous()
        spikes, imv, out = forward_trial(inputs, weight.T.contiguous(), rec_t, k, steps, max_spikes, trainable)
        first_time = (out.first_step.to(value.dtype) + out.first_frac) * lif.dt  # interpolated crossing time
        first = torch.where(out.count > 0, first_time, math.inf)
        traces = (out.v_before, out.i_after) if trainable else ()
        ctx.save_for_backward(*inputs, weight, recurrent, *spikes[:3], imv, out.count, out.first_step, *traces)
        ctx.k, ctx.steps, ctx.dt = k, steps, lif.dt
        ctx.mark_non_differentiable(*spikes[:3])
        ctx.set_materialize_grads(False)
        return spikes.value, out.count.to(value.dtype), first, *spikes[:3]

    @staticmethod
    def backward(ctx, g_value, g_counts, g_first, *_):
        offsets, step, unit, value, weight, recurrent, s_off, s_step, s_unit, imv, count, first_step, *traces = (
            ctx.saved_tensors
        )
        k = ctx.k
        bwd = trial_backward(
            EventList(offsets, step, unit, value), weight.T.contiguous(),
            None if recurrent is None else recurrent.T.contiguous(), k, ctx.steps,
            EventList(s_off, s_step, s_unit, imv), imv, count, first_step, g_out=g_value, g_first=g_first,
            jump=None if g_counts is None else -g_counts / (k.theta * k.tau_mem),
            need_grad_in=ctx.needs_input_grad[0], traces=(*traces, ctx.dt) if traces else None,
            record=bool(_recorders),
        )  # fmt: skip
        _record(bwd)
        grad_tau = (None, None) if bwd.grad_tau is None else tuple(bwd.grad_tau)
        grad_rec = None if bwd.grad_rect is None else bwd.grad_rect.T
        return bwd.grad_in, bwd.grad_wt.T, grad_rec, *grad_tau, *(None,) * 6


class EventPropLI(torch.autograd.Function):
    """Step-averaged voltage Ū [T, B, C] of a non-spiking leaky-integrator readout driven by the events (offsets,
    step, unit, value) of T steps (:func:`spikegrad.model.step_average`); ∂L/∂Ū_n is a drive constant over
    step n, A = −(1/Δt)∂L/∂Ū_n."""

    @staticmethod
    def forward(ctx, value, weight, offsets, step, unit, steps, lif):
        k = constants(lif, weight.shape[0], weight)
        inputs = EventList(offsets, step, unit, value)
        out = trial_forward(inputs, weight.T.contiguous(), None, k, steps, 0, li=True,
                            step_avg=step_average_coefficients(lif))  # fmt: skip
        ctx.save_for_backward(*inputs, weight)
        ctx.k, ctx.steps, ctx.dt = k, steps, lif.dt
        return out.ubar

    @staticmethod
    def backward(ctx, grad_u):
        offsets, step, unit, value, weight = ctx.saved_tensors
        batch, n = len(offsets) - 1, weight.shape[0]
        none = EventList(torch.zeros_like(offsets), step[:0], unit[:0], value[:0])  # a readout has no spikes
        silent = torch.zeros(batch, n, dtype=torch.int32, device=weight.device)
        bwd = trial_backward(
            EventList(offsets, step, unit, value), weight.T.contiguous(), None, ctx.k, ctx.steps, none, value[:0],
            silent, silent - 1, drive=grad_u, drive_scale=-1.0 / ctx.dt, need_grad_in=ctx.needs_input_grad[0],
            record=bool(_recorders),
        )  # fmt: skip
        _record(bwd)
        return bwd.grad_in, bwd.grad_wt.T, *(None,) * 5


def _record(bwd) -> None:
    for recorder in _recorders:
        recorder.append({"lambda_v": bwd.lam_v, "lambda_i": bwd.lam_i})


def lif_layer(x, weight, recurrent, lif: LIFParams, max_spikes: int | None = None, tau=None):
    """(spikes as a :class:`SpikeTrain`, spike counts [B, N], first-spike times [B, N]) of a LIF layer driven by x
    (a dense raster [T, B, N_in] or a SpikeTrain); ``tau`` = trainable per-neuron (τ_m, τ_s) [N], or None."""
    train = spike_train(x)
    tau_mem, tau_syn = (None, None) if tau is None else tau
    events = train.events
    value, counts, first, *spikes = EventPropLIF.apply(
        events.value, weight, recurrent, tau_mem, tau_syn, *events[:3], train.steps, lif, max_spikes
    )
    return SpikeTrain(EventList(*spikes, value), train.steps, weight.shape[0]), counts, first


def hidden_layer(x, weight, recurrent, lif: LIFParams, options: EngineOptions = EngineOptions(), tau=None):
    """(spikes as a :class:`SpikeTrain`, spike counts [B, N]) of a LIF layer driven by x (spikes [T, B, N_in] or
    a SpikeTrain); ``tau`` = trainable per-neuron (τ_m, τ_s) [N] tensors, or None for those of ``lif``."""
    return lif_layer(x, weight, recurrent, lif, options.max_spikes, tau)[:2]


def readout(x, weight, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """Step-averaged membrane voltage Ū [T, B, C] of the non-spiking readout."""
    train = spike_train(x)
    return EventPropLI.apply(train.events.value, weight, *train.events[:3], train.steps, lif)


def readout_spikes(x, weight, lif: LIFParams, options: EngineOptions = EngineOptions()):
    """First-spike times [B, C] (ms, +inf if silent) of a LIF readout."""
    return lif_layer(x, weight, None, lif, options.max_spikes)[2]


def hidden_stack(x, layers, lif: LIFParams, options: EngineOptions = EngineOptions()) -> HiddenOutput:
    """Spikes and counts of every hidden layer (:func:`spikegrad.engines.stack.stack_layers`)."""
    return stack_layers(hidden_layer, x, layers, lif, options)
