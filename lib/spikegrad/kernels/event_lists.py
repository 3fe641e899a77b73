r"""Spikes as per-sample event lists, and the argument records of the whole-trial EventProp kernels
(:mod:`spikegrad.kernels.eventprop`, :mod:`spikegrad.kernels.eventprop_cpu`).

An :class:`EventList` holds the events of a batch grouped by sample, in step order within a sample and unit order
within a step: per sample b the events offsets[b]:offsets[b + 1], each with its step n, its unit j (input channel or
neuron) and its value x (1 for a binary spike). It is the raster x [T, B, N] with x[n, b, j] = value, storing only
the non-zero entries.
"""

from typing import NamedTuple

import torch

IMV_FLOOR = 0.1  # guard: (I − ϑ) at the crossing is at least this fraction of its bound I' − ϑ > 0


class EventList(NamedTuple):
    """Events of a batch grouped by sample, in step order within a sample (then by unit)."""

    offsets: torch.Tensor  # [B + 1] int64: sample b holds events offsets[b]:offsets[b + 1]
    step: torch.Tensor  # [E] int32
    unit: torch.Tensor  # [E] int32: input channel or neuron
    value: torch.Tensor  # [E] x of the event (1 for a binary spike)


class LayerConstants(NamedTuple):
    """Per-neuron step constants [N] (all equal unless τ is trained) and the threshold."""

    alpha: torch.Tensor  # e^{−Δt/τ_m}
    beta: torch.Tensor  # e^{−Δt/τ_s}
    c: torch.Tensor  # current-to-voltage gain of one step (spikegrad.model.decay_factors)
    c_adj: torch.Tensor  # c_λ = c τ_m / τ_s
    tau_mem: torch.Tensor  # τ_m, ms
    tau_syn: torch.Tensor  # τ_s, ms
    theta: float  # ϑ


class ForwardTrial(NamedTuple):
    """What a forward trial returns (:mod:`spikegrad.kernels.eventprop`); unused outputs are empty tensors."""

    out_step: torch.Tensor  # [B, capacity] int32
    out_unit: torch.Tensor  # [B, capacity] int32
    out_imv: torch.Tensor  # [B, capacity] τ_m V̇ at the crossing
    total: torch.Tensor  # [B] int64, spikes fired (may exceed capacity)
    count: torch.Tensor  # [B, N] int32
    first_step: torch.Tensor  # [B, N] int32 (−1: silent)
    first_frac: torch.Tensor  # [B, N] fraction f of its step at which the first spike crossed ϑ
    ubar: torch.Tensor  # [T, B, N] step-averaged voltage (li) or empty
    v_before: torch.Tensor  # [T, B, N] (traces) or empty
    i_after: torch.Tensor  # [T, B, N] (traces) or empty


class BackwardTrial(NamedTuple):
    """What a backward trial returns; absent gradients are None."""

    grad_wt: torch.Tensor  # [N_in, N] ∂L/∂Wᵀ
    grad_rect: torch.Tensor | None  # [N, N] ∂L/∂W_recᵀ
    grad_in: torch.Tensor | None  # [E_in] ∂L/∂t of each input event
    grad_tau: torch.Tensor | None  # [2, N] (∂L/∂τ_m, ∂L/∂τ_s)
    lam_v: torch.Tensor | None  # [T, B, N] λ_V at the start of each step (record)
    lam_i: torch.Tensor | None


def forward_buffers(batch: int, n: int, steps: int, capacity: int, li: bool, traces: bool, like: torch.Tensor):
    """A :class:`ForwardTrial` of fresh output buffers for a forward trial (empty where unused), on ``like``'s
    device, floats of its dtype: per-sample spike slots, counts, first spikes and the optional [T, B, N] traces."""
    ints = {"dtype": torch.int32, "device": like.device}
    empty = like.new_zeros(0, 0, 0)
    return ForwardTrial(
        torch.full((batch, capacity), -1, **ints), torch.full((batch, capacity), -1, **ints),
        like.new_zeros(batch, capacity), torch.zeros(batch, dtype=torch.int64, device=like.device),
        torch.zeros(batch, n, **ints), torch.full((batch, n), -1, **ints), like.new_zeros(batch, n),
        like.new_empty(steps, batch, n) if li else empty,
        *((like.new_empty(steps, batch, n), like.new_empty(steps, batch, n)) if traces else (empty, empty)),
    )  # fmt: skip


def sample_of(events: EventList) -> torch.Tensor:
    """The sample index [E] (int64) of every event."""
    counts = events.offsets.diff()
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)


def check_trial(
    inputs: EventList, w_t: torch.Tensor, rec_t: torch.Tensor | None, k: LayerConstants, steps: int
) -> None:
    """Shapes, dtypes, devices and index ranges shared by every implementation's arguments (an event outside the
    trial or the input would be skipped silently by the kernels' scans)."""
    if w_t.dim() != 2 or w_t.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"w_t must be a 2-D float32/float64 tensor [N_in, N], got {w_t.dtype} {tuple(w_t.shape)}")
    n = w_t.shape[1]
    if rec_t is not None and (tuple(rec_t.shape) != (n, n) or rec_t.dtype != w_t.dtype):
        raise ValueError(f"rec_t must be [{n}, {n}] {w_t.dtype}, got {rec_t.dtype} {tuple(rec_t.shape)}")
    for name in ("alpha", "beta", "c", "c_adj", "tau_mem", "tau_syn"):
        x = getattr(k, name)
        if tuple(x.shape) != (n,) or x.dtype != w_t.dtype or x.device != w_t.device:
            raise ValueError(f"constants.{name} must be [{n}] {w_t.dtype} on {w_t.device}, got {x.dtype} {x.shape}")
    for name, x in (("offsets", inputs.offsets), ("step", inputs.step), ("unit", inputs.unit)):
        if x.dim() != 1 or x.device != w_t.device or x.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"inputs.{name} must be a 1-D integer tensor on {w_t.device}, got {x.dtype} {x.device}")
    if inputs.value.shape != inputs.step.shape or inputs.unit.shape != inputs.step.shape:
        raise ValueError("inputs.step, inputs.unit and inputs.value must have one entry per event")
    if inputs.value.dtype != w_t.dtype or inputs.value.device != w_t.device:
        raise ValueError(f"inputs.value must be {w_t.dtype} on {w_t.device}, got {inputs.value.dtype}")
    if len(inputs.offsets) < 1 or int(inputs.offsets[-1]) != len(inputs.step):
        raise ValueError(f"inputs.offsets must end at the number of events, {len(inputs.step)}")
    if len(inputs.step) and not (0 <= int(inputs.step.min()) and int(inputs.step.max()) < steps):
        raise ValueError(f"input event steps must lie in [0, {steps})")
    if len(inputs.unit) and not (0 <= int(inputs.unit.min()) and int(inputs.unit.max()) < w_t.shape[0]):
        raise ValueError(f"input event units must lie in [0, {w_t.shape[0]})")


def events_from_dense_ref(x: torch.Tensor) -> EventList:
    """The non-zero entries of x [T, B, N] as an :class:`EventList` (sample, then step, then unit order)."""
    b, t, j = x.permute(1, 0, 2).nonzero(as_tuple=True)
    offsets = torch.zeros(x.shape[1] + 1, dtype=torch.int64, device=x.device)
    offsets[1:] = torch.cumsum(torch.bincount(b, minlength=x.shape[1]), 0)
    return EventList(offsets, t.to(torch.int32), j.to(torch.int32), x[t, b, j])


def dense_from_events(events: EventList, steps: int, units: int) -> torch.Tensor:
    """The raster [T, B, N] of an :class:`EventList` (values summed where events repeat)."""
    batch = len(events.offsets) - 1
    x = events.value.new_zeros(steps, batch, units)
    x.index_put_((events.step.long(), sample_of(events), events.unit.long()), events.value, accumulate=True)
    return x
