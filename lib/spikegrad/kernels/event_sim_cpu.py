r"""CPU kernels of the event-driven LIF simulator (model, closed forms and order of events:
:mod:`spikegrad.kernels.event_sim`), compiled by Numba.

``event_sim``: one parallel task per sample and block of ``BLOCK`` neurons scans the sample's time-sorted input
stream with the block's state (V, I, spike count) in arrays. Before each input it emits every spike due before
the horizon min(t_in, t_max), in rounds over the candidate neurons (one spike per neuron and round, so that the
closed forms of different neurons overlap in the pipeline; each neuron's arithmetic is the reference's, in its
order); a neuron's K+1-th spike sets its overflow flag instead, and the neuron is skipped from then on (its
outputs can no longer change). Then every neuron advances to the horizon and takes the input's weight from a row
of Wᵀ, in a loop that vectorises, which also marks the candidates for the next horizon. The scan ends after the
first input later than t_max, as the Triton kernel's. Every neuron is independent given the stream, so the
result depends neither on the number of threads nor on ``BLOCK``.

Shortcuts that change no result:

- between inputs every neuron of the block starts from the same time, so the decay of the advance to the horizon
  is one exp per input and block, shared by the neurons that did not fire (those that did advance on their own);
- the closed form's sqrt and log (τ_m = 2τ_s) or W₀ (τ_m = τ_s) are evaluated only for the candidates
  (:func:`may_fire`): neurons whose closed form is valid (:func:`can_fire`: I > 0 and a non-negative
  discriminant, i.e. V's peak reaches ϑ; for τ_m = τ_s a necessary condition for z ≥ −1/e) and whose crossing
  is not surely after the horizon (:func:`surely_later`). The latter holds, with δ = ``MARGIN``, where V's peak
  lies more than δτ_m in the past (V falls from now on; the closed form gives s* < −δτ_m) or more than δτ_m after
  the gap with V(gap) < ϑ − δ(τ_m V̇(gap) + δ(ϑ + |V| + 3I)): V rises up to its peak with τ_m V̇ = I − V ≤
  τ_m V̇(gap) after the gap, so the crossing lies more than δτ_m after it, as does the closed form's value, which
  rounding moves by ~τ_m√ε ≪ δτ_m (in float32 √ε = 3.5·10⁻⁴).

``stream_order``: the stable sort of each sample's input spikes that builds the stream
(:func:`spikegrad.kernels.event_sim.stream_order`): a merge sort of the finite entries of each row, in parallel
over samples.

Arithmetic: the reference's operations in its order, with constants cast to the array dtype and no fast-math
(no fused multiply-adds). exp, log, log1p and sqrt come from the C math library where PyTorch uses its own
vectorised versions (SLEEF, not correctly rounded; even its sqrt differs), so results agree with the reference to
rounding, not bit for bit: float64 spike times to 1e-12 relative in the tests.

Roofline: per input event and neuron ~25 flops in the vectorised advance-and-test loop and one s-byte weight read
from a row of Wᵀ (2.5 MB for the benchmark layer, cache resident); per candidate a sqrt, a log and a division
(τ_m = 2τ_s) or ~14 exps (τ_m = τ_s), and per spike as much again plus an exp. The spike and candidate work is
scalar, branchy and latency-bound, never bandwidth-bound, so the figure of merit is input events (and
(input event, neuron) pairs) per second (:mod:`spikegrad.bench.event_sim`).
"""

import contextlib
import math

import numba
import numpy as np

BLOCK = 256  # neurons per task: their state (V, I, count, flags) stays in L1
GRAIN = 1 << 20  # work below which a kernel runs on one thread (see threads): ~3 ms
MARGIN = 1e-2  # δ of surely_later and the rounding slack of can_fire (τ_m = τ_s): far above √ε of float32


@contextlib.contextmanager
def threads(n: int, work: int):
    """Run the kernels called inside on n threads (at most NUMBA_NUM_THREADS), or on one where ``work`` (in
    (input event, neuron) pairs or the like, ~3 ns each) is below ``GRAIN``, then restore the count. The launchers
    pass torch's thread count, which follows OMP_NUM_THREADS: Numba's own default is every core, so jobs given one
    thread each would oversubscribe the machine. And on a busy machine a parallel region waits for its preempted
    threads (~10 ms per region measured on 2 shared cores), hence a grain, as torch has one."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n if work >= GRAIN else 1, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@numba.njit(cache=True, error_model="numpy")
def lambert_w0(z, like):  # pragma: no cover (compiled)
    """W₀(z) for z ≥ −1/e, of ``like``'s dtype: :func:`spikegrad.kernels.event_sim.lambert_w0`'s start and its 12
    Halley steps."""
    f = like.dtype.type
    zero, one, two = f(0.0), f(1.0), f(2.0)
    p = math.sqrt(max(two * (f(math.e) * z + one), zero))
    near = f(-1.0) + p - p * p / f(3.0) + f(11 / 72) * (p * p * p)
    w = near if z < f(-0.25) else math.log1p(max(z, f(-0.25)))
    for _ in range(12):
        ew = math.exp(w)
        r = w * ew - z
        wp1 = w + one
        denom = ew * wp1 - (w + two) * r / (two * wp1)
        if abs(wp1) > f(1e-12) and denom != zero:
            w = w - r / denom
    return w


@numba.njit(cache=True, error_model="numpy")
def next_spike(v, i, gap, tau, theta, ratio, like):  # pragma: no cover (compiled)
    """:func:`spikegrad.kernels.event_sim.next_spike` for one neuron, +inf if no spike in [0, gap]; the log
    and sqrt (or W₀) only where the closed form is valid. ``tau`` and ``theta`` are of ``like``'s dtype."""
    f = like.dtype.type
    zero = f(0.0)
    s = f(np.inf)
    if i > zero:
        if ratio == 2:
            b = v + i
            disc = b * b - f(4.0) * theta * i
            if disc >= zero:
                denom = b + math.sqrt(disc)
                if denom > zero:
                    s = tau * math.log(f(2.0) * i / denom)
        else:
            z = -(theta / i) * math.exp(-v / i)
            if z >= f(-1 / math.e):
                s = tau * (-lambert_w0(z, like) - v / i)
    return s if zero <= s <= gap else f(np.inf)


@numba.njit(cache=True, error_model="numpy")
def can_fire(v, i, theta, ratio, like):  # pragma: no cover (compiled)
    """False only where :func:`next_spike` is +inf for every gap: I ≤ 0, or (τ_m = 2τ_s) a negative
    discriminant, or (τ_m = τ_s) a necessary condition for z ≥ −1/e that fails by more than rounding
    (e^{−u} ≥ 1 − u with u = V/I turns it into I/(eϑ) + u ≥ 1)."""
    f = like.dtype.type
    if ratio == 2:
        b = v + i
        return (i > f(0.0)) & (b * b - f(4.0) * theta * i >= f(0.0))
    u = v / i
    c = i / (f(math.e) * theta)
    return (i > f(0.0)) & (c + u >= f(1.0) - f(MARGIN) * (f(1.0) + abs(c) + abs(u)))


@numba.njit(cache=True, error_model="numpy")
def surely_later(v, i, gap, y, tau, theta, ratio, like):  # pragma: no cover (compiled)
    """True only where V, from (V, I > 0), has no up-crossing of ϑ in [0, gap] (y = e^{−gap/τ_m}) by a margin
    that makes :func:`next_spike` return +inf whatever its rounding (module docstring); τ_m V̇(gap) = I(gap) −
    V(gap)."""
    f = like.dtype.type
    one, d = f(1.0), f(MARGIN)
    if ratio == 2:  # peak at y = (V + I)/2I
        i_gap = i * y * y
        v_gap = (v + i) * y - i_gap
        rising = f(2.0) * i * y > (v + i) * (one + d)
        falling = v + i > f(2.0) * i * (one + d)
    else:  # peak at s/τ = 1 − V/I
        i_gap = i * y
        v_gap = y * (v + i * gap / tau)
        rising = gap / tau <= one - v / i - d
        falling = v / i >= one + d
    return falling | (rising & (v_gap < theta - d * (i_gap - v_gap + d * (theta + abs(v) + f(3.0) * i))))


@numba.njit(cache=True, error_model="numpy")
def may_fire(v, i, gap, y, tau, theta, ratio, like):  # pragma: no cover (compiled)
    """False only where :func:`next_spike` is +inf: :func:`can_fire` and not :func:`surely_later`."""
    return can_fire(v, i, theta, ratio, like) & ~surely_later(v, i, gap, y, tau, theta, ratio, like)


@numba.njit(cache=True, error_model="numpy")
def advance(v, i, s, tau, ratio):  # pragma: no cover (compiled)
    """:func:`spikegrad.kernels.event_sim.advance` for one neuron: (V, I) after s ms."""
    y = math.exp(-s / tau)
    if ratio == 2:
        return (v + i) * y - i * y * y, i * y * y
    return y * (v + i * s / tau), i * y


@numba.njit(parallel=True, cache=True, error_model="numpy")
def event_sim(times, channels, weight_t, out_t, out_i, overflow, tau_mem, theta, t_max, ratio):  # pragma: no cover
    """Spike times and currents into ``out_t``, ``out_i`` [B, N, K] (pre-filled with +inf and 0) and flags into
    ``overflow`` [B, N] (pre-filled False), for the streams ``times``, ``channels`` [B, Q] and Wᵀ [N_in, N]."""
    B, Q = times.shape
    N, K = out_t.shape[1], out_t.shape[2]
    f = out_t.dtype.type
    tau, th, t_end, inf = f(tau_mem), f(theta), f(t_max), f(np.inf)
    n_blocks = (N + BLOCK - 1) // BLOCK
    for task in numba.prange(B * n_blocks):
        b = task // n_blocks
        lo = (task % n_blocks) * BLOCK
        n = min(BLOCK, N - lo)
        flagged = overflow[b, lo : lo + n]
        v = np.zeros(n, out_t.dtype)
        i = np.zeros(n, out_t.dtype)
        count = np.zeros(n, np.int64)
        check = np.zeros(n, np.bool_)  # a spike may be due before the next horizon
        candidates = np.zeros(n, np.int64)  # the neurons to check, in order
        a_v = np.zeros(n, out_t.dtype)  # the state of the candidates still firing in this round
        a_i = np.zeros(n, out_t.dtype)
        a_t = np.zeros(n, out_t.dtype)
        fired = np.zeros(n, np.int64)  # the neurons that fired since the last input
        fired_at = np.full(n, -1, np.int64)  # the last input before which each neuron fired
        n_candidates = 0
        t = f(0.0)  # the block's time: every neuron's after each input
        horizon = min(times[b, 0] if Q > 0 else inf, t_end)
        gap_next = horizon - t
        y_next = math.exp(-gap_next / tau)
        for q in range(Q + 1):
            live = q < Q and times[b, q] <= t_end  # the input is taken
            channel = channels[b, q] if live else 0
            for j in range(n_candidates):  # every spike due before the horizon, one per neuron and round
                a_v[j], a_i[j], a_t[j] = v[candidates[j]], i[candidates[j]], t
            n_active, n_fired = n_candidates, 0
            while n_active > 0:
                n_next = 0
                for j in range(n_active):
                    k = candidates[j]
                    s = next_spike(a_v[j], a_i[j], horizon - a_t[j], tau, th, ratio, out_t)
                    if s == inf:
                        continue
                    if count[k] >= K:
                        flagged[k] = True
                        continue
                    i_s = advance(a_v[j], a_i[j], s, tau, ratio)[1]
                    t_s = a_t[j] + s
                    out_t[b, lo + k, count[k]] = t_s
                    out_i[b, lo + k, count[k]] = i_s
                    if fired_at[k] != q:
                        fired_at[k] = q
                        fired[n_fired] = k
                        n_fired += 1
                    count[k] += 1
                    candidates[n_next], a_v[n_next], a_i[n_next], a_t[n_next] = k, f(0.0), i_s, t_s
                    n_next += 1
                n_active = n_next
            if not live:  # the stream is sorted: nothing later is taken
                break
            gap, y = gap_next, y_next  # the decay to the horizon, shared by the neurons that do not fire
            horizon_next = min(times[b, q + 1] if q + 1 < Q else inf, t_end)
            gap_next = horizon_next - horizon
            y_next = math.exp(-gap_next / tau)
            w = weight_t[channel, lo : lo + n]
            if ratio == 2:  # every neuron advanced with the shared decay, the input taken (vectorised)
                for k in range(n):
                    iyy = i[k] * y * y
                    v[k] = (v[k] + i[k]) * y - iyy
                    i[k] = iyy + w[k]
                    check[k] = may_fire(v[k], i[k], gap_next, y_next, tau, th, ratio, out_t) & ~flagged[k]
            else:
                for k in range(n):
                    v[k] = y * (v[k] + i[k] * gap / tau)
                    i[k] = i[k] * y + w[k]
                    check[k] = may_fire(v[k], i[k], gap_next, y_next, tau, th, ratio, out_t) & ~flagged[k]
            for j in range(n_fired):  # the neurons that fired: from their last spike to the horizon
                k = fired[j]
                t_s, i_s = out_t[b, lo + k, count[k] - 1], out_i[b, lo + k, count[k] - 1]
                v[k], i_h = advance(f(0.0), i_s, horizon - t_s, tau, ratio)
                i[k] = i_h + w[k]
                check[k] = may_fire(v[k], i[k], gap_next, y_next, tau, th, ratio, out_t) & ~flagged[k]
            n_candidates = 0
            for k in range(n):  # branch-free compaction
                candidates[n_candidates] = k
                n_candidates += check[k]
            t, horizon = horizon, horizon_next


@numba.njit(parallel=True, cache=True)
def stream_order(times):  # pragma: no cover (compiled)
    """Order [B, n] of a stable ascending sort of each row of ``times [B, M]`` (M ≥ 1, no NaN), cut to n =
    max(1, the most finite entries of any row): per row, a merge sort of its entries below +inf, then its +inf
    entries in index order (where a stable sort puts them)."""
    B, M = times.shape
    below = np.zeros(B, np.int64)  # entries below +inf, and finite ones
    finite = np.zeros(B, np.int64)
    for b in numba.prange(B):
        for j in range(M):
            below[b] += times[b, j] < np.inf
            finite[b] += abs(times[b, j]) < np.inf
    n = max(1, finite.max()) if B > 0 else 1
    order = np.empty((B, n), np.int64)
    for b in numba.prange(B):
        index = np.empty(below[b], np.int64)
        values = np.empty(below[b], times.dtype)
        m = 0
        for j in range(M):
            if times[b, j] < np.inf:
                index[m], values[m] = j, times[b, j]
                m += 1
        m = min(m, n)
        sort = np.argsort(values, kind="mergesort")
        for j in range(m):
            order[b, j] = index[sort[j]]
        for j in range(M):
            if m == n:
                break
            if not times[b, j] < np.inf:
                order[b, m] = j
                m += 1
    return order
