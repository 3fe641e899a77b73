r"""Whole-trial kernels of discrete-grid EventProp (GeNN style): one layer's forward trial and its backward trial,
each in one call, with synaptic input event-driven in both directions. Equations of the grid model:
:mod:`spikegrad.model`; of the adjoint: :mod:`spikegrad.engines.eventprop`.

**Event lists.** Spikes travel between layers as :class:`EventList`: per sample b the events
offsets[b]:offsets[b + 1], in step order (then unit order within a step), each with its step n, its unit j and
its value x (1 for a binary spike). A layer's input is never a dense raster and its input currents h = xWᵀ are
never materialised: each input event of step n adds x·W[:, j] (a row of Wᵀ) to the currents of step n, and each
own spike of step n − 1 adds W_rec[:, j] (recurrent layers).

**Forward trial** (per sample, steps n = 0 … T − 1; zero reset):

.. math::

    I' = I + h_n, \quad U = \alpha V + c I', \quad I \leftarrow \beta I', \quad z = [U \ge \vartheta], \quad
    V \leftarrow U (1 - z), \quad \text{record } (n,\; j,\; \max(I' \beta^{f} - \vartheta,\; 0.1 (I' - \vartheta)))
    \text{ where } z = 1, \quad f = \frac{\vartheta - V}{U - V}

τ_m V̇ = I − ϑ is taken at the crossing time t̂ = (n + f)Δt, linearly interpolated inside the step, with the exact
current there (I' β^f). GeNN stores I − U at the step's end instead; on a coarse grid that can be near zero or
negative (the voltage overshoots ϑ and the current has decayed), and 1/(I − U) then blows the adjoint up. Both
agree to O(Δt). I' − ϑ > 0 bounds the true value from above whenever V crosses ϑ inside the step, so the floor
only guards a badly interpolated crossing. Outputs: the layer's own spikes as per-sample lists of at most
``capacity`` events (``out_step``, ``out_unit``, ``out_imv`` [B, capacity]) with the number each sample fired
(``total`` [B], which may exceed the capacity: the caller re-runs those samples with room, see
:func:`lif_trial`), spikes per neuron ``count`` [B, N] and the step and fraction of each neuron's first spike. A
non-spiking leaky-integrator layer (``li``) instead writes its step-averaged voltage Ū_n = a₁U_n + a₂U_{n−1}
(:func:`spikegrad.model.step_average`) [T, B, N]. With ``traces`` (trainable τ) it also writes V before and I'
after the input of every step [T, B, N]; nothing else is kept per step.

**Backward trial** (per sample, n = T − 1 … 0) takes the adjoints from just after step n back to its start: the
jump of every own spike of step n, then the exact solution over the step with a drive A constant over it
(A = ``drive_scale``·∂L/∂Ū_n for a readout, none for hidden layers):

.. math::

    \lambda_V \mathrel{+}= \frac{\vartheta \lambda_V + g}{\tau_m \dot V^-} + j, \qquad
    \lambda_V \leftarrow A + \alpha (\lambda_V - A), \qquad
    \lambda_I \leftarrow A + \beta (\lambda_I - A) + c_\lambda (\lambda_V - A), \qquad
    c_\lambda = \frac{\tau_m}{\tau_s} c

with g = ∂L/∂t_k of the spike (``g_out`` per own event, plus ∂L/∂t of the first spike ``g_first`` at a neuron's
first, plus what its recurrent targets send back) and j a direct jump (``jump``, the spike-count gradient). A
silent neuron's ``g_first`` is a phantom spike at the trial's end, λ_V += g_first/ϑ. Then, at each input event
(n, j, x) of the step, and at each own spike of step n − 1 (which arrived at the start of step n):

.. math::

    \frac{\partial L}{\partial w_{ij}} \mathrel{+}= -\tau_s\, x\, \lambda_{I,i}, \qquad
    \frac{\partial L}{\partial t} = \sum_i w_{ij} (\lambda_V - \lambda_I)_i

which touches only the rows of Wᵀ that carry an event; ∂L/∂t per input event is the gradient handed to the layer
below (``grad_in``), and for own spikes it is the recurrent part of their g. With ``traces``, per neuron
∂L/∂τ_m = Σ_n Δt λ_V (I' − V)/τ_m and ∂L/∂τ_s = −Σ_n Δt λ_I I'/τ_s (one rectangle per step). With ``record`` the
adjoints at the start of every step are written to [T, B, N] tensors (for analyses).

**Implementations**, one signature each (:func:`trial_fwd_ref` / :func:`trial_bwd_ref` in PyTorch, the Numba
kernels of :mod:`spikegrad.kernels.eventprop_cpu` on the CPU, the Triton kernels here on CUDA (``trial_fwd`` /
``trial_bwd``; CPU tensors too when ``TRITON_INTERPRET=1`` was set before triton was imported); the dispatch
:func:`trial_forward` / :func:`trial_backward` picks by device. The references run the steps vectorised over the
batch on dense per-step tensors (simple, memory O(T·B·N)); the kernels keep per-sample state only.

- ``_trial_fwd_kernel``: one program per sample holds all N neurons (``BLOCK_N`` = next power of two, so
  N ≤ ``MAX_BLOCK_N``) and walks the T steps, reading its input events in order (a scalar loop per event, a
  row of Wᵀ per event). Recurrent spikes are exchanged inside the program: the units that fired at step n are
  compacted (a cumsum of the spike mask) into the sample's row of a scratch buffer [B, N], a barrier makes
  them visible to every thread of the program, and step n + 1 adds their rows of W_recᵀ. No other program
  takes part, so no grid-wide synchronisation is needed.
- ``_trial_bwd_kernel``: one program per sample walks the steps backwards with λ_V, λ_I of all N neurons in
  registers; own spikes of step n are the tail of the sample's list, read backwards (each jump selects its
  neuron with a mask, O(N)); weight gradients go to the shared [N_in, N] row of the event's presynaptic unit by
  atomic adds (samples share W), ∂L/∂t per event is a dot with that row.

Roofline. Per input event the forward moves a row of Wᵀ (Ns bytes for s-byte floats) and the backward the same
row twice (read for ∂L/∂t, atomic read-modify-write of ∇Wᵀ); per neuron and step a few flops on registers; so
the kernels are bound by the event rows and by the latency of the per-sample sequential scan. Floors of one
SHD-sized step (:mod:`spikegrad.bench.training_step`: T = 1000, B = 32, N = 256 recurrent, 700 inputs at 5 Hz,
≈ 1.1·10⁵ input and 1·10⁵ hidden events, float32): 1 KB per event and pass, ≈ 0.6 GB in all (mostly L2-served:
Wᵀ is 0.7 MB), i.e. 0.2 ms on an H100 (0.13 ms on an H200); but each program walks ≈ 6500 events and 1000
steps sequentially with a dependent global load each (≈ 1 µs), so ≈ 5–10 ms per pass is the realistic bound.
Measured fraction: not measured yet (no GPU lent).
"""

import numpy as np
import torch

from spikegrad.kernels.event_lists import (
    IMV_FLOOR,
    BackwardTrial,
    EventList,
    ForwardTrial,
    LayerConstants,
    check_trial,
    events_from_dense_ref,
    forward_buffers,
    sample_of,
)
from spikegrad.kernels.launch import check_launch
from spikegrad.model import membrane_step

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the references still work
    triton = None

try:
    from spikegrad.kernels import eventprop_cpu, nonzero_cpu
except ImportError:  # numba not installed: the references still work
    eventprop_cpu = nonzero_cpu = None

MAX_BLOCK_N = 4096  # neurons of one Triton program (all of a layer's neurons of one sample)
NUM_WARPS = 4


def crossing(v0, u, i_in, theta, log_beta):
    """(f, τ_m V̇ = I − ϑ) at the threshold crossing inside a step, at t = (n + f)Δt (module docstring)."""
    frac = ((theta - v0) / torch.where(u > v0, u - v0, 1.0)).clamp(0.0, 1.0)
    slope = i_in * torch.exp(frac * log_beta) - theta
    return frac, torch.maximum(slope, IMV_FLOOR * (i_in - theta))


def _dense_currents(inputs: EventList, w_t: torch.Tensor, steps: int, batch: int) -> torch.Tensor:
    """h [T, B, N] = Σ over the events of each (step, sample) of x·Wᵀ[j] (reference only)."""
    rows = inputs.step.long() * batch + sample_of(inputs)
    h = w_t.new_zeros(steps * batch, w_t.shape[1])
    h.index_add_(0, rows, inputs.value[:, None] * w_t[inputs.unit.long()])
    return h.view(steps, batch, -1)


def trial_fwd_ref(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, capacity: int, li: bool = False,
    step_avg: tuple[float, float] = (0.0, 0.0), traces: bool = False,
) -> ForwardTrial:  # fmt: skip
    """Forward trial (module docstring) of a layer with weights Wᵀ = ``w_t`` [N_in, N] and W_recᵀ = ``rec_t``
    [N, N] (or None), vectorised over the batch step by step."""
    batch, n = len(inputs.offsets) - 1, w_t.shape[1]
    h = _dense_currents(inputs, w_t, steps, batch)
    v = i = w_t.new_zeros(batch, n)
    out = forward_buffers(batch, n, steps, capacity, li, traces, w_t)
    count, first_step, first_frac = out.count, out.first_step, out.first_frac  # count is updated in place
    log_beta = torch.log(k.beta)
    spikes, z = [], None
    for t in range(steps):
        h_t = h[t] if rec_t is None or z is None else h[t] + z @ rec_t
        u, i_in, i = membrane_step(v, i, h_t, k.alpha, k.beta, k.c)
        if traces:
            out.v_before[t], out.i_after[t] = v, i_in
        if li:
            out.ubar[t] = step_avg[0] * u + step_avg[1] * v
            v = u
            continue
        spiked = u >= k.theta
        frac, slope = crossing(v, u, i_in, k.theta, log_beta)
        b, j = spiked.nonzero(as_tuple=True)
        new = spiked & (count == 0)
        first_step = torch.where(new, t, first_step)
        first_frac = torch.where(new, frac, first_frac)
        count += spiked.to(torch.int32)
        spikes.append((torch.full_like(b, t), b, j, slope[b, j]))
        z = spiked.to(u.dtype)
        v = u * (1.0 - z)
    return out._replace(first_step=first_step, first_frac=first_frac, **_pack(spikes, capacity, out))


def _pack(spikes: list, capacity: int, out: ForwardTrial) -> dict:
    """Fill the per-sample slots of ``out`` (step order, at most ``capacity`` each) with the (step, sample, unit,
    imv) lists of every step; returns the fields it set, with the spikes each sample fired (``total``)."""
    if not spikes:
        return {}
    t, b, j, imv = (torch.cat(x) for x in zip(*spikes, strict=True))
    order = torch.argsort(b * (int(t.max()) + 1) + t, stable=True)  # by sample, then step; units stay ascending
    t, b, j, imv = t[order], b[order], j[order], imv[order]
    total = torch.bincount(b, minlength=len(out.total))
    slot = torch.arange(len(b), device=b.device) - (torch.cumsum(total, 0) - total)[b]
    keep = slot < capacity
    b, slot = b[keep], slot[keep]
    out.out_step[b, slot] = t[keep].to(torch.int32)
    out.out_unit[b, slot] = j[keep].to(torch.int32)
    out.out_imv[b, slot] = imv[keep]
    return {"total": total}


def trial_bwd_ref(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, spikes: EventList, imv, count, first_step,
    g_out=None, g_first=None, jump=None, drive=None, drive_scale: float = 1.0, need_grad_in: bool = False,
    traces: tuple | None = None, record: bool = False,
) -> BackwardTrial:  # fmt: skip
    """Backward trial (module docstring) for own spikes ``spikes`` (with τ_m V̇ ``imv`` [E_out]) and optional
    sources g_out [E_out], g_first, jump [B, N], drive [T, B, N]; ``traces`` = (V before, I' after, Δt).
    Vectorised over the batch step by step on dense per-step tensors."""
    batch, n = len(inputs.offsets) - 1, w_t.shape[1]
    dense = w_t.new_zeros(4, steps, batch, n)  # own spike mask, τ_m V̇, g, pending recurrent g per step
    ob, ot, oj = sample_of(spikes), spikes.step.long(), spikes.unit.long()
    dense[0, ot, ob, oj] = 1.0
    dense[1, ot, ob, oj] = imv
    if g_out is not None:
        dense[2, ot, ob, oj] = g_out
    spiked, slope, g_spike = dense[0] > 0, dense[1], dense[2]
    x = w_t.new_zeros(steps, batch, w_t.shape[0])
    ib = sample_of(inputs)
    x.index_put_((inputs.step.long(), ib, inputs.unit.long()), inputs.value, accumulate=True)
    lam_v, lam_i = w_t.new_zeros(batch, n), w_t.new_zeros(batch, n)
    if g_first is not None:  # phantom spike at the end of the trial for silent neurons
        lam_v = lam_v + torch.where(count == 0, g_first / k.theta, 0.0)
    grad_wt = torch.zeros_like(w_t)
    grad_rect = None if rec_t is None else torch.zeros_like(rec_t)
    grad_x = w_t.new_zeros(steps, batch, w_t.shape[0]) if need_grad_in else None
    grad_tau = None if traces is None else w_t.new_zeros(2, n)
    record_v = w_t.new_empty(steps, batch, n) if record else None
    record_i = w_t.new_empty(steps, batch, n) if record else None
    g_rec = torch.zeros_like(lam_v)
    for t in reversed(range(steps)):
        total = lam_v * k.theta + (g_spike[t] + g_rec)
        if g_first is not None:
            total = total + torch.where(first_step == t, g_first, 0.0)
        jumped = total / torch.where(spiked[t], slope[t], 1.0)
        if jump is not None:
            jumped = jumped + jump
        lam_v = torch.where(spiked[t], lam_v + jumped, lam_v)
        if drive is None:
            lam_v, lam_i = k.alpha * lam_v, k.beta * lam_i + k.c_adj * lam_v
        else:
            a = drive_scale * drive[t]
            lv, li = lam_v - a, lam_i - a
            lam_v, lam_i = a + k.alpha * lv, a + k.beta * li + k.c_adj * lv
        if record:
            record_v[t], record_i[t] = lam_v, lam_i
        if traces is not None:
            v_before, i_after, dt = traces
            grad_tau[0] += (dt * (lam_v * (i_after[t] - v_before[t])) / k.tau_mem).sum(0)
            grad_tau[1] -= (dt * (lam_i * i_after[t]) / k.tau_syn).sum(0)
        diff, scaled = lam_v - lam_i, lam_i * k.tau_syn
        if rec_t is not None and t > 0:  # own spikes of step t − 1 arrived at the start of step t
            prev = spiked[t - 1].to(lam_v.dtype)
            grad_rect -= prev.T @ scaled
            g_rec = (diff @ rec_t.T) * prev
        grad_wt -= x[t].T @ scaled
        if need_grad_in:
            grad_x[t] = diff @ w_t.T
    grad_in = grad_x[inputs.step.long(), ib, inputs.unit.long()] if need_grad_in else None
    return BackwardTrial(grad_wt, grad_rect, grad_in, grad_tau, record_v, record_i)


# --- Triton ---------------------------------------------------------------------------------------------------

if triton is not None:
    # The time loops are `while` loops (the Triton 3.6 interpreter cannot take range() of a runtime integer under
    # NumPy >= 2.4, triton-lang/triton#9171). θ and the step-average coefficients are annotated float64 and cast
    # with tl.full; enable_fp_fusion=False keeps the arithmetic of the reference (no FMA).
    @triton.jit
    def _trial_fwd_kernel(
        in_off, in_step, in_unit, in_val, w_t, rec_t, alpha_p, beta_p, c_p, log_beta_p,
        out_step, out_unit, out_imv, total_p, count_p, first_step_p, first_frac_p, ubar_p, v_before_p, i_after_p,
        scratch, B, N, T, CAP, theta: tl.float64, a1: tl.float64, a2: tl.float64,
        LI: tl.constexpr, RECURRENT: tl.constexpr, TRACES: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        b = tl.program_id(0).to(tl.int64)
        offs = tl.arange(0, BLOCK_N)
        mask = offs < N
        dtype = out_imv.dtype.element_ty
        alpha = tl.load(alpha_p + offs, mask=mask, other=0.0)
        beta = tl.load(beta_p + offs, mask=mask, other=0.0)
        c = tl.load(c_p + offs, mask=mask, other=0.0)
        log_beta = tl.load(log_beta_p + offs, mask=mask, other=0.0)
        theta_ = tl.full([BLOCK_N], theta, dtype)
        a1_ = tl.full([BLOCK_N], a1, dtype)
        a2_ = tl.full([BLOCK_N], a2, dtype)
        v = tl.zeros([BLOCK_N], dtype)
        i = tl.zeros([BLOCK_N], dtype)
        count = tl.zeros([BLOCK_N], tl.int32)
        first_step = tl.full([BLOCK_N], -1, tl.int32)
        first_frac = tl.zeros([BLOCK_N], dtype)
        e = tl.load(in_off + b)
        e_end = tl.load(in_off + b + 1)
        n_out = tl.zeros([], tl.int64)
        n_prev = tl.zeros([], tl.int32)
        row = scratch + b * N
        t = 0
        while t < T:
            h = tl.zeros([BLOCK_N], dtype)
            s = tl.load(in_step + e, mask=e < e_end, other=-1)
            while s == t:  # this step's input events: a row of Wᵀ each
                j = tl.load(in_unit + e).to(tl.int64)
                h += tl.load(in_val + e).to(dtype) * tl.load(w_t + j * N + offs, mask=mask, other=0.0)
                e += 1
                s = tl.load(in_step + e, mask=e < e_end, other=-1)
            if RECURRENT:  # own spikes of the previous step, compacted into this sample's scratch row
                r = 0
                while r < n_prev:
                    j = tl.load(row + r).to(tl.int64)
                    h += tl.load(rec_t + j * N + offs, mask=mask, other=0.0)
                    r += 1
            # spikegrad.model.membrane_step (the one definition of the update)
            i_in = i + h
            u = alpha * v + c * i_in
            i = beta * i_in
            idx = (t * B + b) * N + offs
            if TRACES:
                tl.store(v_before_p + idx, v, mask=mask)
                tl.store(i_after_p + idx, i_in, mask=mask)
            if LI:
                tl.store(ubar_p + idx, a1_ * u + a2_ * v, mask=mask)
                v = u
            else:
                spiked = mask & (u >= theta_)
                frac = tl.minimum(tl.maximum((theta_ - v) / tl.where(u > v, u - v, 1.0), 0.0), 1.0)
                slope = i_in * tl.exp(frac * log_beta) - theta_
                slope = tl.maximum(slope, tl.full([BLOCK_N], IMV_FLOOR, dtype) * (i_in - theta_))
                new = spiked & (count == 0)
                first_step = tl.where(new, tl.zeros([BLOCK_N], tl.int32) + t, first_step)
                first_frac = tl.where(new, frac, first_frac)
                count += spiked.to(tl.int32)
                pos = tl.cumsum(spiked.to(tl.int32), axis=0) - 1  # compaction of this step's spikes
                slot = n_out + pos
                keep = spiked & (slot < CAP)
                tl.store(out_step + b * CAP + slot, tl.zeros([BLOCK_N], tl.int32) + t, mask=keep)
                tl.store(out_unit + b * CAP + slot, offs, mask=keep)
                tl.store(out_imv + b * CAP + slot, slope, mask=keep)
                n_now = tl.sum(spiked.to(tl.int32), axis=0)
                n_out += n_now
                if RECURRENT:
                    tl.debug_barrier()  # every thread has read the previous step's row
                    tl.store(row + pos, offs, mask=spiked)
                    tl.debug_barrier()  # ... and this step's row is visible to all of them
                    n_prev = n_now
                v = tl.where(spiked, 0.0, u)
            t += 1
        tl.store(total_p + b, n_out)
        tl.store(count_p + b * N + offs, count, mask=mask)
        tl.store(first_step_p + b * N + offs, first_step, mask=mask)
        tl.store(first_frac_p + b * N + offs, first_frac, mask=mask)

    @triton.jit
    def _trial_bwd_kernel(
        in_off, in_step, in_unit, in_val, w_t, rec_t, alpha_p, beta_p, c_adj_p, tau_mem_p, tau_syn_p,
        out_off, out_step, out_unit, imv_p, count_p, first_step_p, g_out_p, g_first_p, jump_p, drive_p,
        v_before_p, i_after_p, grad_wt, grad_rect, grad_in, grad_tau, rec_v, rec_i, g_rec_p,
        B, N, T, theta: tl.float64, drive_scale: tl.float64, dt: tl.float64,
        HAS_G: tl.constexpr, HAS_GF: tl.constexpr, HAS_JUMP: tl.constexpr, HAS_DRIVE: tl.constexpr,
        RECURRENT: tl.constexpr, NEED_IN: tl.constexpr, TRACES: tl.constexpr, RECORD: tl.constexpr,
        BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        b = tl.program_id(0).to(tl.int64)
        offs = tl.arange(0, BLOCK_N)
        mask = offs < N
        dtype = grad_wt.dtype.element_ty
        alpha = tl.load(alpha_p + offs, mask=mask, other=0.0)
        beta = tl.load(beta_p + offs, mask=mask, other=0.0)
        c_adj = tl.load(c_adj_p + offs, mask=mask, other=0.0)
        tau_syn = tl.load(tau_syn_p + offs, mask=mask, other=1.0)
        theta_ = tl.full([], theta, dtype)
        lam_v = tl.zeros([BLOCK_N], dtype)
        lam_i = tl.zeros([BLOCK_N], dtype)
        if HAS_GF:  # phantom spike at the end of the trial for silent neurons
            count = tl.load(count_p + b * N + offs, mask=mask, other=1)
            lam_v += tl.where(count == 0, tl.load(g_first_p + b * N + offs, mask=mask, other=0.0) / theta_, 0.0)
        if TRACES:
            tau_mem = tl.load(tau_mem_p + offs, mask=mask, other=1.0)
            g_tau_m = tl.zeros([BLOCK_N], dtype)
            g_tau_s = tl.zeros([BLOCK_N], dtype)
        lo = tl.load(out_off + b)
        p = tl.load(out_off + b + 1)
        qlo = tl.load(in_off + b)
        q = tl.load(in_off + b + 1)
        t = T - 1
        while t >= 0:
            s = tl.load(out_step + p - 1, mask=p > lo, other=-1)
            while s == t:  # own spikes of step t, read backwards
                p -= 1
                n = tl.load(out_unit + p)
                sel = offs == n
                g = tl.load(g_rec_p + p)  # what the recurrent targets sent back (0 if none)
                if HAS_G:
                    g = tl.load(g_out_p + p) + g
                total = tl.sum(tl.where(sel, lam_v, 0.0), axis=0) * theta_ + g
                if HAS_GF:
                    first = tl.load(first_step_p + b * N + n) == t
                    total += tl.where(first, tl.load(g_first_p + b * N + n), 0.0)
                jumped = total / tl.load(imv_p + p)
                if HAS_JUMP:
                    jumped += tl.load(jump_p + b * N + n)
                lam_v = tl.where(sel, lam_v + jumped, lam_v)
                s = tl.load(out_step + p - 1, mask=p > lo, other=-1)
            idx = (t * B + b) * N + offs
            if HAS_DRIVE:
                a = tl.full([BLOCK_N], drive_scale, dtype) * tl.load(drive_p + idx, mask=mask, other=0.0)
                lv = lam_v - a
                lam_v = a + alpha * lv
                lam_i = a + beta * (lam_i - a) + c_adj * lv
            else:
                lv = lam_v
                lam_v = alpha * lv
                lam_i = beta * lam_i + c_adj * lv
            if RECORD:
                tl.store(rec_v + idx, lam_v, mask=mask)
                tl.store(rec_i + idx, lam_i, mask=mask)
            if TRACES:
                i_after = tl.load(i_after_p + idx, mask=mask, other=0.0)
                v_before = tl.load(v_before_p + idx, mask=mask, other=0.0)
                dt_ = tl.full([BLOCK_N], dt, dtype)
                g_tau_m += dt_ * (lam_v * (i_after - v_before)) / tau_mem
                g_tau_s -= dt_ * (lam_i * i_after) / tau_syn
            diff = lam_v - lam_i
            scaled = lam_i * tau_syn
            if RECURRENT:  # own spikes of step t − 1 arrived at the start of step t
                r = p - 1
                s = tl.load(out_step + r, mask=r >= lo, other=-1)
                while (s == t - 1) & (t > 0):
                    j = tl.load(out_unit + r).to(tl.int64)
                    tl.atomic_add(grad_rect + j * N + offs, -scaled, mask=mask, sem="relaxed")
                    w = tl.load(rec_t + j * N + offs, mask=mask, other=0.0)
                    tl.store(g_rec_p + r, tl.sum(w * diff, axis=0))
                    r -= 1
                    s = tl.load(out_step + r, mask=r >= lo, other=-1)
            s = tl.load(in_step + q - 1, mask=q > qlo, other=-1)
            while s == t:  # input events of step t
                q -= 1
                j = tl.load(in_unit + q).to(tl.int64)
                x = tl.load(in_val + q).to(dtype)
                tl.atomic_add(grad_wt + j * N + offs, -(scaled * x), mask=mask, sem="relaxed")
                if NEED_IN:
                    w = tl.load(w_t + j * N + offs, mask=mask, other=0.0)
                    tl.store(grad_in + q, tl.sum(w * diff, axis=0))
                s = tl.load(in_step + q - 1, mask=q > qlo, other=-1)
            t -= 1
        if TRACES:
            tl.atomic_add(grad_tau + offs, g_tau_m, mask=mask, sem="relaxed")
            tl.atomic_add(grad_tau + N + offs, g_tau_s, mask=mask, sem="relaxed")


def _block(n: int) -> int:
    block = triton.next_power_of_2(max(n, 2))
    if block > MAX_BLOCK_N:
        raise ValueError(f"a Triton EventProp program holds a layer's {n} neurons (at most {MAX_BLOCK_N})")
    return block


def trial_fwd(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, capacity: int, li: bool = False,
    step_avg: tuple[float, float] = (0.0, 0.0), traces: bool = False,
) -> ForwardTrial:  # fmt: skip
    """:func:`trial_fwd_ref` with ``_trial_fwd_kernel`` (one program per sample)."""
    check_trial(inputs, w_t, rec_t, k, steps)
    check_launch(w_t, _trial_fwd_kernel if triton else None, "trial_forward/trial_fwd_ref")
    batch, n = len(inputs.offsets) - 1, w_t.shape[1]
    block = _block(n)
    out = forward_buffers(batch, n, steps, capacity, li, traces, w_t)
    scratch = torch.zeros(batch, n, dtype=torch.int32, device=w_t.device)
    contiguous = [x.contiguous() for x in (*inputs, w_t, w_t if rec_t is None else rec_t)]
    if batch > 0:
        with torch.cuda.device_of(w_t):
            _trial_fwd_kernel[(batch,)](
                *contiguous, k.alpha.contiguous(), k.beta.contiguous(), k.c.contiguous(), torch.log(k.beta), *out,
                scratch,
                batch, n, steps, capacity, float(k.theta), float(step_avg[0]), float(step_avg[1]),
                LI=li, RECURRENT=rec_t is not None, TRACES=traces, BLOCK_N=block, num_warps=NUM_WARPS,
                enable_fp_fusion=False,
            )  # fmt: skip
    return out


def trial_bwd(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, spikes: EventList, imv, count, first_step,
    g_out=None, g_first=None, jump=None, drive=None, drive_scale: float = 1.0, need_grad_in: bool = False,
    traces: tuple | None = None, record: bool = False,
) -> BackwardTrial:  # fmt: skip
    """:func:`trial_bwd_ref` with ``_trial_bwd_kernel`` (one program per sample; atomic weight gradients)."""
    check_trial(inputs, w_t, rec_t, k, steps)
    check_launch(w_t, _trial_bwd_kernel if triton else None, "trial_backward/trial_bwd_ref")
    batch, n = len(inputs.offsets) - 1, w_t.shape[1]
    block = _block(n)
    grad_wt = torch.zeros_like(w_t)
    grad_rect = None if rec_t is None else torch.zeros_like(rec_t)
    grad_in = w_t.new_zeros(len(inputs.step)) if need_grad_in else None
    grad_tau = None if traces is None else w_t.new_zeros(2, n)
    rec_v, rec_i = (w_t.new_empty(steps, batch, n), w_t.new_empty(steps, batch, n)) if record else (None, None)
    g_rec = w_t.new_zeros(max(len(spikes.step), 1))
    dummy = w_t.new_zeros(1)
    v_before, i_after, dt = traces if traces is not None else (dummy, dummy, 0.0)

    def arg(x):  # an absent input gets a dummy pointer that is never read
        return dummy if x is None else x.contiguous()

    if batch > 0:
        with torch.cuda.device_of(w_t):
            _trial_bwd_kernel[(batch,)](
                *(x.contiguous() for x in inputs), w_t.contiguous(), arg(rec_t), k.alpha.contiguous(),
                k.beta.contiguous(), k.c_adj.contiguous(), k.tau_mem.contiguous(), k.tau_syn.contiguous(),
                spikes.offsets.contiguous(), arg(spikes.step), arg(spikes.unit), arg(imv), count.contiguous(),
                first_step.contiguous(), arg(g_out), arg(g_first), arg(jump), arg(drive), arg(v_before), arg(i_after),
                grad_wt, arg(grad_rect), arg(grad_in), arg(grad_tau), arg(rec_v), arg(rec_i), g_rec,
                batch, n, steps, float(k.theta), float(drive_scale), float(dt),
                HAS_G=g_out is not None, HAS_GF=g_first is not None, HAS_JUMP=jump is not None,
                HAS_DRIVE=drive is not None, RECURRENT=rec_t is not None, NEED_IN=need_grad_in,
                TRACES=traces is not None, RECORD=record, BLOCK_N=block, num_warps=NUM_WARPS,
                enable_fp_fusion=False,
            )  # fmt: skip
    return BackwardTrial(grad_wt, grad_rect, grad_in, grad_tau, rec_v, rec_i)


def _implementation(x: torch.Tensor, kind: str):
    """Triton on CUDA tensors, Numba on CPU tensors, else the PyTorch reference."""
    if x.is_cuda and triton is not None:
        return {"fwd": trial_fwd, "bwd": trial_bwd}[kind]
    if x.device.type == "cpu" and eventprop_cpu is not None:
        return {"fwd": eventprop_cpu.trial_fwd, "bwd": eventprop_cpu.trial_bwd}[kind]
    return {"fwd": trial_fwd_ref, "bwd": trial_bwd_ref}[kind]


def trial_forward(inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, capacity: int, li: bool = False,
                  step_avg: tuple[float, float] = (0.0, 0.0), traces: bool = False) -> ForwardTrial:  # fmt: skip
    """Dispatch of the forward trial (module docstring)."""
    return _implementation(w_t, "fwd")(inputs, w_t, rec_t, k, steps, capacity, li, step_avg, traces)


def trial_backward(inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, spikes: EventList, imv, count,
                   first_step, **sources) -> BackwardTrial:  # fmt: skip
    """Dispatch of the backward trial (module docstring); ``sources`` as :func:`trial_bwd_ref`'s keywords."""
    return _implementation(w_t, "bwd")(inputs, w_t, rec_t, k, steps, spikes, imv, count, first_step, **sources)


def events_from_dense(x: torch.Tensor) -> EventList:
    """:func:`spikegrad.kernels.event_lists.events_from_dense_ref`, by the Numba kernels of
    :mod:`spikegrad.kernels.nonzero_cpu` for CPU tensors (two parallel passes over x)."""
    if x.dim() != 3:
        raise ValueError(f"spikes must be [T, B, N], got shape {tuple(x.shape)}")
    if x.device.type == "cpu" and nonzero_cpu is not None and x.dtype in (torch.float32, torch.float64):
        ptr, unit, value, step = nonzero_cpu.nonzero_rows(x.detach().contiguous().numpy(), True, np.int32, True)
        return EventList(*(torch.from_numpy(a) for a in (ptr[:: x.shape[0]], step, unit, value)))
    return events_from_dense_ref(x)
