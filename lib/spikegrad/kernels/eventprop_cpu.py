r"""CPU kernels of the whole-trial EventProp forward and backward (equations, layouts and signatures:
:mod:`spikegrad.kernels.eventprop`), compiled by Numba.

The forward runs one parallel task per sample: the sample's state (V, I and the input currents of the step, [N]
each) stays in cache while it walks the T steps, adding a row of Wᵀ per input event and a row of W_recᵀ per own
spike of the previous step (contiguous, vectorised loops), then updating the N neurons. The backward runs one
task per *chunk* of samples (sample b in chunk b mod ``GRAD_CHUNKS``, walked in order), each with its own weight
gradient accumulators, which are summed at the end: race-free and deterministic whatever the
number of threads. ∂L/∂t of an event is a dot product of length N summed in eight interleaved partial sums
(:func:`_dot`: vectorisable without fast-math, and independent of the thread count).

Work is proportional to events: per input event and pass one row of N (the forward's current, the backward's
∇Wᵀ row and the dot for ∂L/∂t), per own spike the same for W_rec, and per neuron and step a handful of flops in
both passes. Float constants are cast to the array dtype and no operation is fused, so the neuron updates follow
the reference's arithmetic; the synaptic sums run in event order, not the reference's matrix-product order, so
results agree with it to rounding.
"""

import numba
import numpy as np
import torch

from spikegrad.kernels.event_lists import (
    IMV_FLOOR,
    BackwardTrial,
    EventList,
    ForwardTrial,
    LayerConstants,
    check_trial,
    forward_buffers,
)

GRAD_CHUNKS = 4  # weight-gradient accumulators of the backward (parallel tasks); fixed, so results do not depend on
# the thread count


@numba.njit(cache=True, inline="always")
def _dot(a, b):  # pragma: no cover (compiled)
    """Σ_n a[n]·b[n] in eight interleaved partial sums, added in a fixed order."""
    n = a.shape[0]
    acc = np.zeros(8, a.dtype)
    m = n - n % 8
    for k in range(0, m, 8):
        for r in range(8):
            acc[r] += a[k + r] * b[k + r]
    for k in range(m, n):
        acc[0] += a[k] * b[k]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@numba.njit(parallel=True, cache=True)
def _fwd(
    in_off, in_step, in_unit, in_val, w_t, rec_t, alpha, beta, c, log_beta, theta, steps, li, a1, a2, recurrent,
    traces, out_step, out_unit, out_imv, total, count, first_step, first_frac, ubar, v_before, i_after,
):  # fmt: skip  # pragma: no cover (compiled)
    batch, n = in_off.shape[0] - 1, w_t.shape[1]
    cap = out_step.shape[1]
    dtype = w_t.dtype.type
    theta, a1, a2 = dtype(theta), dtype(a1), dtype(a2)
    zero, one, floor = dtype(0.0), dtype(1.0), dtype(IMV_FLOOR)
    for b in numba.prange(batch):
        v = np.zeros(n, w_t.dtype)
        i = np.zeros(n, w_t.dtype)
        h = np.empty(n, w_t.dtype)
        prev = np.empty(n, np.int64)  # units that fired at the previous step
        n_prev = 0
        e, e_end = in_off[b], in_off[b + 1]
        n_out = 0
        for t in range(steps):
            h[:] = zero
            while e < e_end and in_step[e] == t:
                j, x = in_unit[e], in_val[e]
                for m in range(n):
                    h[m] += x * w_t[j, m]
                e += 1
            if recurrent:
                for r in range(n_prev):
                    j = prev[r]
                    for m in range(n):
                        h[m] += rec_t[j, m]
            n_prev = 0
            for m in range(n):
                # spikegrad.model.membrane_step (the one definition of the update)
                i_in = i[m] + h[m]
                u = alpha[m] * v[m] + c[m] * i_in
                i[m] = beta[m] * i_in
                if traces:
                    v_before[t, b, m] = v[m]
                    i_after[t, b, m] = i_in
                if li:
                    ubar[t, b, m] = a1 * u + a2 * v[m]
                    v[m] = u
                elif u >= theta:
                    v0 = v[m]
                    frac = (theta - v0) / (u - v0 if u > v0 else one)
                    frac = min(max(frac, zero), one)
                    slope = max(i_in * np.exp(frac * log_beta[m]) - theta, floor * (i_in - theta))
                    if n_out < cap:
                        out_step[b, n_out] = t
                        out_unit[b, n_out] = m
                        out_imv[b, n_out] = slope
                    n_out += 1
                    if count[b, m] == 0:
                        first_step[b, m] = t
                        first_frac[b, m] = frac
                    count[b, m] += 1
                    prev[n_prev] = m
                    n_prev += 1
                    v[m] = zero
                else:
                    v[m] = u
        total[b] = n_out


@numba.njit(parallel=True, cache=True)
def _bwd(
    in_off, in_step, in_unit, in_val, w_t, rec_t, alpha, beta, c_adj, tau_mem, tau_syn, theta, steps,
    out_off, out_step, out_unit, imv, count, first_step, g_out, g_first, jump, drive, drive_scale, v_before,
    i_after, dt, has_g, has_gf, has_jump, has_drive, recurrent, need_in, traces, record,
    grad_wt, grad_rect, grad_in, grad_tau, rec_v, rec_i,
):  # fmt: skip  # pragma: no cover (compiled)
    batch, n = in_off.shape[0] - 1, w_t.shape[1]
    chunks = grad_wt.shape[0]
    dtype = w_t.dtype.type
    theta, drive_scale, dt, zero = dtype(theta), dtype(drive_scale), dtype(dt), dtype(0.0)
    for ch in numba.prange(chunks):
        lam_v = np.empty(n, w_t.dtype)
        lam_i = np.empty(n, w_t.dtype)
        g_rec = np.empty(n, w_t.dtype)  # ∂L/∂t that recurrent targets sent back to a spike of the next step
        diff = np.empty(n, w_t.dtype)
        scaled = np.empty(n, w_t.dtype)
        for b in range(ch, batch, chunks):
            lam_v[:] = zero
            lam_i[:] = zero
            g_rec[:] = zero
            if has_gf:  # phantom spike at the end of the trial for silent neurons
                for m in range(n):
                    if count[b, m] == 0:
                        lam_v[m] += g_first[b, m] / theta
            lo, p = out_off[b], out_off[b + 1]
            qlo, q = in_off[b], in_off[b + 1]
            for t in range(steps - 1, -1, -1):
                while p > lo and out_step[p - 1] == t:  # own spikes of step t, read backwards
                    p -= 1
                    m = out_unit[p]
                    g = g_out[p] + g_rec[m] if has_g else g_rec[m]
                    g_rec[m] = zero
                    total = lam_v[m] * theta + g
                    if has_gf and first_step[b, m] == t:
                        total += g_first[b, m]
                    jumped = total / imv[p]
                    if has_jump:
                        jumped += jump[b, m]
                    lam_v[m] += jumped
                for m in range(n):
                    if has_drive:
                        a = drive_scale * drive[t, b, m]
                        lv = lam_v[m] - a
                        lam_v[m] = a + alpha[m] * lv
                        lam_i[m] = a + beta[m] * (lam_i[m] - a) + c_adj[m] * lv
                    else:
                        lv = lam_v[m]
                        lam_v[m] = alpha[m] * lv
                        lam_i[m] = beta[m] * lam_i[m] + c_adj[m] * lv
                    diff[m] = lam_v[m] - lam_i[m]
                    scaled[m] = lam_i[m] * tau_syn[m]
                    if record:
                        rec_v[t, b, m] = lam_v[m]
                        rec_i[t, b, m] = lam_i[m]
                    if traces:
                        grad_tau[ch, 0, m] += dt * (lam_v[m] * (i_after[t, b, m] - v_before[t, b, m])) / tau_mem[m]
                        grad_tau[ch, 1, m] -= dt * (lam_i[m] * i_after[t, b, m]) / tau_syn[m]
                if recurrent and t > 0:  # own spikes of step t − 1 arrived at the start of step t
                    r = p - 1
                    while r >= lo and out_step[r] == t - 1:
                        j = out_unit[r]
                        for m in range(n):
                            grad_rect[ch, j, m] -= scaled[m]
                        g_rec[j] = _dot(rec_t[j], diff)
                        r -= 1
                while q > qlo and in_step[q - 1] == t:  # input events of step t
                    q -= 1
                    j, x = in_unit[q], in_val[q]
                    for m in range(n):
                        grad_wt[ch, j, m] -= scaled[m] * x
                    if need_in:
                        grad_in[q] = _dot(w_t[j], diff)


def _np(x: torch.Tensor | None, like: np.ndarray, ndim: int = 1) -> np.ndarray:
    """A contiguous NumPy view of ``x``, or for an absent input an empty array of ``like``'s dtype with ``ndim``
    dimensions (Numba types every branch, taken or not)."""
    return np.zeros((0,) * ndim, like.dtype) if x is None else x.detach().contiguous().numpy()


def _check(inputs: EventList, w_t: torch.Tensor, rec_t, k: LayerConstants, steps: int) -> None:
    check_trial(inputs, w_t, rec_t, k, steps)
    if w_t.device.type != "cpu":
        raise ValueError(f"the Numba EventProp kernels need CPU tensors, got {w_t.device}")


def trial_fwd(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, capacity: int, li: bool = False,
    step_avg: tuple[float, float] = (0.0, 0.0), traces: bool = False,
) -> ForwardTrial:  # fmt: skip
    """:func:`spikegrad.kernels.eventprop.trial_fwd_ref` by the Numba kernel (one task per sample)."""
    _check(inputs, w_t, rec_t, k, steps)
    batch, n = len(inputs.offsets) - 1, w_t.shape[1]
    out = forward_buffers(batch, n, steps, capacity, li, traces, w_t)
    w = w_t.detach().contiguous().numpy()
    _fwd(
        *(_np(x, w) for x in inputs), w, _np(rec_t, w, 2), *(_np(x, w) for x in (k.alpha, k.beta, k.c)),
        np.log(_np(k.beta, w)), float(k.theta), steps, li, float(step_avg[0]), float(step_avg[1]), rec_t is not None,
        traces, *(x.numpy() for x in out),
    )  # fmt: skip
    return out


def trial_bwd(
    inputs: EventList, w_t, rec_t, k: LayerConstants, steps: int, spikes: EventList, imv, count, first_step,
    g_out=None, g_first=None, jump=None, drive=None, drive_scale: float = 1.0, need_grad_in: bool = False,
    traces: tuple | None = None, record: bool = False,
) -> BackwardTrial:  # fmt: skip
    """:func:`spikegrad.kernels.eventprop.trial_bwd_ref` by the Numba kernel (one task per chunk of samples)."""
    _check(inputs, w_t, rec_t, k, steps)
    batch, (n_in, n) = len(inputs.offsets) - 1, w_t.shape
    chunks = max(1, min(GRAD_CHUNKS, batch))
    grad_wt = w_t.new_zeros(chunks, n_in, n)
    grad_rect = w_t.new_zeros(chunks, n, n) if rec_t is not None else None
    grad_in = w_t.new_zeros(len(inputs.step)) if need_grad_in else None
    grad_tau = w_t.new_zeros(chunks, 2, n) if traces is not None else None
    rec_v, rec_i = (w_t.new_empty(steps, batch, n), w_t.new_empty(steps, batch, n)) if record else (None, None)
    v_before, i_after, dt = traces if traces is not None else (None, None, 0.0)
    w = w_t.detach().contiguous().numpy()
    _bwd(
        *(_np(x, w) for x in inputs), w, _np(rec_t, w, 2),
        *(_np(x, w) for x in (k.alpha, k.beta, k.c_adj, k.tau_mem, k.tau_syn)), float(k.theta), steps,
        *(_np(x, w) for x in (spikes.offsets, spikes.step, spikes.unit, imv)), count.contiguous().numpy(),
        first_step.contiguous().numpy(), _np(g_out, w), _np(g_first, w, 2), _np(jump, w, 2), _np(drive, w, 3),
        float(drive_scale), _np(v_before, w, 3), _np(i_after, w, 3), float(dt),
        g_out is not None, g_first is not None, jump is not None, drive is not None, rec_t is not None, need_grad_in,
        traces is not None, record, grad_wt.numpy(), _np(grad_rect, w, 3), _np(grad_in, w), _np(grad_tau, w, 3),
        _np(rec_v, w, 3), _np(rec_i, w, 3),
    )  # fmt: skip
    grad_rect, grad_tau = (None if x is None else x.sum(0) for x in (grad_rect, grad_tau))
    return BackwardTrial(grad_wt.sum(0), grad_rect, grad_in, grad_tau, rec_v, rec_i)
