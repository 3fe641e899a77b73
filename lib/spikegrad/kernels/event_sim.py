r"""Event-driven simulation of a current-based LIF layer in continuous time, with spike times in closed form.

Model (:mod:`spikegrad.engines.events`): τ_m dV/dt = −V + I, τ_s dI/dt = −I, I ← I + w_{n,j} at each input
spike of channel j, spike when V reaches ϑ from below, then V ← 0. Between events, s ms after the state
(V, I), with y = e^{−s/τ_m}:

- **τ_m = 2τ_s** (Bacho & Chu; Göltz et al.): V(s) = (V + I) y − I y². V(s) = ϑ is a quadratic in
  Y = 1/y = e^{s/τ_m}, ϑY² − (V + I)Y + I = 0, whose first up-crossing is

  .. math:: s^* = \tau_m \ln \frac{2I}{(V + I) + \sqrt{(V + I)^2 - 4\vartheta I}}

  valid when I > 0, the discriminant is ≥ 0, the denominator is > 0 and 0 ≤ s* ≤ gap to the next event.
- **τ_m = τ_s = τ** (Fast & Deep's Lambert-W case): V(s) = y (V + I s/τ). With x = s/τ, ϑe^x = V + I x gives

  .. math:: s^* = \tau\left(-W_0\!\left(-\frac{\vartheta}{I} e^{-V/I}\right) - \frac{V}{I}\right)

  valid when I > 0, the argument of W₀ is ≥ −1/e and 0 ≤ s* ≤ gap.

Input: the layer's input spikes as one time-sorted stream per sample (``times [B, Q]``, ascending, +inf
padding; ``channels [B, Q]``). Each neuron scans the stream: before each input (and before ``t_max``) it
emits every spike due, resetting after each, then takes the input. A neuron stores at most K = ``max_spikes``
spikes and is silent afterwards (the truncated model whose gradient the engines compute); a neuron that would
fire once more before ``t_max`` is flagged in ``overflow``. Outputs: ``times [B, N, K]`` (+inf padding),
``current [B, N, K]`` (I at each spike, 0 padding; τ_m V̇(t⁻) = I − ϑ there) and ``overflow [B, N]``.

**Kernel.** Grid (B, ⌈N / ``BLOCK_N``⌉): one program per sample and block of neurons scans the sample's stream
in order, with each neuron's (V, I, t, count) in registers. For each input event it first emits every spike due
before min(t_in, t_max) (a loop that runs while any neuron of the block still fires), then advances the block
to that horizon and adds the event's weights, read from a row of Wᵀ (the launcher passes ``weight.T``
contiguous, so the gather is one coalesced row). The scan stops after the first input later than ``t_max``
(+inf padding included): the stream is sorted, so the reference does nothing more from there on.

Roofline. Per input event and neuron the kernel moves s bytes (the weight; s = 4 for float32, 8 for float64;
the event's time and channel are one scalar load per program, amortised over ``BLOCK_N`` neurons), and per
output spike 2s (time and current), plus the output fill by the launcher (2s·K per neuron) and the overflow
flag (1 byte per neuron). Against that each input event costs every neuron at least one spike-time test and one
advance, ~30 flops with a log, a sqrt and an exp for τ_m = 2τ_s, and ~13 exps and ~150 flops for τ_m = τ_s
(the 12 Halley steps of W₀, skipped when no neuron of the block can reach ϑ), plus as much again per spike.
So the kernel is compute- and latency-bound (a sequential scan of Q events per program, B·⌈N / ``BLOCK_N``⌉
programs), never bandwidth-bound: its figure of merit is input events (B·Q) and output spikes per second, not
GB/s. Floors on the benchmark layer (:mod:`spikegrad.bench.event_sim`: B = 50, Q = 150, N = 800, K = 30,
float32, τ_m = 2τ_s; 6·10⁶ event-neuron pairs): bytes/bandwidth ≈ 34 MB / 3.35 TB/s = 10 µs on an H100
(7 µs on an H200), flops/peak ≈ 1.8·10⁸ / 67 TFLOP/s = 3 µs (the log, sqrt and exp run on the special-function
units at a quarter of that rate: ≈ 11 µs). Measured fraction: not measured yet (no GPU lent); the scan of Q
events per program is sequential, so the latency of one event (≈ 1 µs of dependent loads and transcendental
ops) times Q, ≈ 150 µs, is the realistic bound.

**CPU kernel** (:mod:`spikegrad.kernels.event_sim_cpu`, Numba): one task per sample and block of neurons, the
same scan with the spikes due emitted in rounds over candidate neurons and a vectorised advance of the block;
the closed form is only evaluated where a spike may be due before the horizon. Its figure of merit is the same
(input events and output spikes per second). Measured on the benchmark layer above (2 shared cores, float32,
2026-12-03): 10 ms, 7.5·10⁵ input events and 1.5·10⁷ output spikes per second, 31× the reference; ≈ 3.3 ns per
(input event, neuron) pair and core, of which the vectorised advance-and-test takes ≈ 0.5 ns and the scalar
closed forms of the candidates and spikes (sqrt, log, exp, divisions: latency-bound) the rest.

This module holds the Triton kernel (``_event_sim_kernel``) and its launcher (``event_sim``: CUDA tensors, or
CPU tensors when ``TRITON_INTERPRET=1`` was set before triton was imported), the launcher of the CPU kernel
(``event_sim_numba``), the PyTorch reference (``event_sim_ref``), the dispatch (``event_sim_forward``: CUDA
and triton → Triton kernel; CPU and numba → Numba kernel; else the reference), the closed-form pieces the
kernels follow, and the ordering of the input stream (``stream_order``: Numba on the CPU, else
``stream_order_ref``).
"""

import math

import torch

from spikegrad.kernels.launch import check_launch

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the reference still works
    triton = None

try:
    from spikegrad.kernels import event_sim_cpu
except ImportError:  # numba not installed: the reference still works
    event_sim_cpu = None

RATIOS = (1, 2)  # supported τ_m / τ_s
BLOCK_N = 32  # neurons per program: one warp; small blocks keep the "while any neuron fires" loop short
NUM_WARPS = 1

if triton is not None:
    # As in spikegrad.kernels.lif_scan: τ_m, ϑ and t_max are annotated float64 (unrounded when compiled) and cast
    # to the tensor dtype with tl.full. A python float literal in arithmetic takes the dtype of the tensor it
    # meets (exact for float64), but one in a comparison is rounded to float32 first, so constants compared
    # against (−1/e, 1e−12) go through tl.full too. The loops over events and spikes are `while` loops
    # (Triton 3.6 interpreter, NumPy >= 2.4).
    @triton.jit
    def _lambert_w0(z):
        """:func:`lambert_w0`, elementwise: the same start and the same 12 Halley steps."""
        p = tl.sqrt(tl.maximum(2.0 * (2.718281828459045 * z + 1.0), 0.0))
        near = -1.0 + p - p * p / 3.0 + (11.0 / 72.0) * (p * p * p)
        w = tl.where(z < -0.25, near, tl.log(1.0 + tl.maximum(z, -0.25)))  # a start: Halley fixes log1p's digits
        for _ in tl.static_range(12):
            ew = tl.exp(w)
            f = w * ew - z
            wp1 = w + 1.0
            denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
            step = tl.where(denom != 0.0, f / denom, 0.0)
            w = tl.where(tl.abs(wp1) > tl.full(z.shape, 1e-12, z.dtype), w - step, w)
        return tl.where(z >= tl.full(z.shape, -0.36787944117144233, z.dtype), w, float("nan"))

    @triton.jit
    def _next_spike(v, i, gap, tau, theta, RATIO: tl.constexpr):
        """:func:`next_spike`, elementwise (``tau`` and ``theta`` are tensors of the state's dtype)."""
        if RATIO == 2:
            b = v + i
            disc = b * b - 4.0 * theta * i
            denom = b + tl.sqrt(tl.maximum(disc, 0.0))
            ok = (i > 0.0) & (disc >= 0.0) & (denom > 0.0)
            s = tau * tl.log(tl.where(ok, 2.0 * i / tl.where(ok, denom, 1.0), 1.0))
        else:
            safe_i = tl.where(i > 0.0, i, 1.0)
            z = -(theta / safe_i) * tl.exp(-v / safe_i)
            ok = (i > 0.0) & (z >= tl.full(z.shape, -0.36787944117144233, z.dtype))
            w = tl.zeros_like(z)
            if tl.sum(ok.to(tl.int32), axis=0) > 0:  # skip the 12 Halley steps when no neuron can reach ϑ
                w = _lambert_w0(tl.where(ok, z, 0.0))
            s = tau * (-w - v / safe_i)
        ok = ok & (s >= 0.0) & (s <= gap)
        return tl.where(ok, s, float("inf"))

    @triton.jit
    def _advance(v, i, s, tau, RATIO: tl.constexpr):
        """:func:`advance`, elementwise."""
        y = tl.exp(-s / tau)
        if RATIO == 2:
            v_new = (v + i) * y - i * y * y
            i_new = i * y * y
        else:
            v_new = y * (v + i * s / tau)
            i_new = i * y
        return v_new, i_new

    @triton.jit
    def _event_sim_kernel(
        times_ptr, channels_ptr, wt_ptr, out_t_ptr, out_i_ptr, overflow_ptr, Q, N, K,
        tau_mem: tl.float64, theta: tl.float64, t_max: tl.float64,
        RATIO: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        b = tl.program_id(0).to(tl.int64)
        offs = tl.program_id(1).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
        mask = offs < N
        dtype = out_t_ptr.dtype.element_ty
        tau = tl.full([BLOCK_N], tau_mem, dtype)
        theta_ = tl.full([BLOCK_N], theta, dtype)
        t_end = tl.full([BLOCK_N], t_max, dtype)
        t_last = tl.full([], t_max, dtype)  # t_max rounded to the dtype, as the reference compares it
        v = tl.zeros([BLOCK_N], dtype)
        i = tl.zeros([BLOCK_N], dtype)
        t = tl.zeros([BLOCK_N], dtype)
        count = tl.zeros([BLOCK_N], tl.int32)
        overflow = offs < 0  # all False
        row = times_ptr + b * Q
        crow = channels_ptr + b * Q
        slots = (b * N + offs) * K  # slot 0 of each neuron in out_t, out_i [B, N, K]
        t_in = tl.load(row, mask=Q > 0, other=float("inf"))
        channel = tl.load(crow, mask=t_in <= t_last, other=0)
        q = 0
        while q <= Q:  # q == Q (or the first input after t_max) is the final stretch to t_max
            live = t_in <= t_last  # the input is taken (False for q == Q, where t_in = +inf)
            # Loads for later, issued now so that their latency hides behind the spike loop: this input's weights
            # (W^T row; the mask also keeps garbage channels of dropped inputs from being dereferenced) and the
            # next input's time and channel.
            take = mask & (t_in <= t_end)  # = mask & live (a scalar bool would not broadcast in the interpreter)
            w_in = tl.load(wt_ptr + channel.to(tl.int64) * N + offs, mask=take, other=0.0)
            t_next = tl.load(row + q + 1, mask=q + 1 < Q, other=float("inf"))
            channel_next = tl.load(crow + q + 1, mask=q + 1 < Q, other=0)
            horizon = tl.minimum(t_end, t_in)
            n_fire = 1
            while n_fire > 0:  # every spike due before the horizon, one per neuron and pass
                s = _next_spike(v, i, horizon - t, tau, theta_, RATIO)
                fire = mask & (s < float("inf"))
                overflow = overflow | (fire & (count >= K))
                fire = fire & (count < K)
                v_s, i_s = _advance(v, i, tl.where(fire, s, 0.0), tau, RATIO)
                t = tl.where(fire, t + s, t)
                tl.store(out_t_ptr + slots + count, t, mask=fire)
                tl.store(out_i_ptr + slots + count, i_s, mask=fire)
                v = tl.where(fire, 0.0, v)
                i = tl.where(fire, i_s, i)
                count += fire.to(tl.int32)
                n_fire = tl.sum(fire.to(tl.int32), axis=0)
            v, i = _advance(v, i, horizon - t, tau, RATIO)
            t = horizon
            i = i + w_in  # + 0 where the input is dropped, as in the reference
            q = tl.where(live, q + 1, Q + 1)  # stop after the first input later than t_max (the stream is sorted)
            t_in = t_next
            channel = channel_next
        tl.store(overflow_ptr + b * N + offs, overflow.to(tl.int8), mask=mask)


def lambert_w0(z: torch.Tensor) -> torch.Tensor:
    """Principal branch W₀(z) for z ∈ [−1/e, ∞) (nan below), by Halley's iteration from a branch-point series
    (z < −0.25) or log1p (z ≥ −0.25); w e^w = z to machine precision."""
    e = math.e
    p = torch.sqrt((2 * (e * z + 1)).clamp(min=0))
    near = -1 + p - p * p / 3 + 11 / 72 * p**3
    w = torch.where(z < -0.25, near, torch.log1p(z.clamp(min=-0.25)))
    for _ in range(12):
        ew = torch.exp(w)
        f = w * ew - z
        wp1 = w + 1
        denom = ew * wp1 - (w + 2) * f / (2 * wp1)
        step = torch.where(denom != 0, f / denom, torch.zeros_like(f))
        w = torch.where(wp1.abs() > 1e-12, w - step, w)
    return torch.where(z >= -1 / e, w, torch.full_like(w, math.nan))


def next_spike(v: torch.Tensor, i: torch.Tensor, gap: torch.Tensor, tau_mem: float, ratio: int, theta: float):
    """Time s* ∈ [0, gap] of the first up-crossing of ϑ from the state (V, I) (module docstring), +inf if none."""
    if ratio == 2:
        b = v + i
        disc = b * b - 4 * theta * i
        denom = b + torch.sqrt(disc.clamp(min=0))
        ok = (i > 0) & (disc >= 0) & (denom > 0)
        s = tau_mem * torch.log(torch.where(ok, 2 * i / torch.where(ok, denom, torch.ones_like(denom)), 1.0))
    else:
        safe_i = torch.where(i > 0, i, torch.ones_like(i))
        z = -(theta / safe_i) * torch.exp(-v / safe_i)
        ok = (i > 0) & (z >= -1 / math.e)
        s = tau_mem * (-lambert_w0(torch.where(ok, z, torch.zeros_like(z))) - v / safe_i)
    ok = ok & (s >= 0) & (s <= gap)
    return torch.where(ok, s, torch.full_like(s, math.inf))


def advance(v: torch.Tensor, i: torch.Tensor, s: torch.Tensor, tau_mem: float, ratio: int):
    """State (V, I) after s ms without events: V(s) = e^{−s/τ_m} V + κ(s) I, I(s) = e^{−s/τ_s} I, with κ of
    :func:`spikegrad.engines.events.kappa` in the closed forms the kernels use, y = e^{−s/τ_m}: κ = y − y² for
    τ_m = 2τ_s, κ = (s/τ_m) y for τ_m = τ_s."""
    y = torch.exp(-s / tau_mem)
    if ratio == 2:
        return (v + i) * y - i * y * y, i * y * y
    return y * (v + i * s / tau_mem), i * y


def stream_order_ref(times: torch.Tensor) -> torch.Tensor:
    """Order [B, n] of a stable ascending sort of each row of ``times [B, M]`` (+inf padding), cut to n = max(1,
    the most finite entries of any row) (0 when M = 0): the input stream's ordering."""
    n = int(torch.isfinite(times).sum(1).max().item()) if times.numel() else 0
    return torch.argsort(times, dim=1, stable=True)[:, : max(n, 1)]


def stream_order(times: torch.Tensor) -> torch.Tensor:
    """Dispatch: :func:`stream_order_ref` by the Numba kernel (:mod:`spikegrad.kernels.event_sim_cpu`) for
    non-empty float32/float64 CPU tensors when numba is installed (it would put NaN, which no spike time is, with
    the +inf padding), else the reference."""
    cpu = event_sim_cpu is not None and times.device.type == "cpu" and times.dtype in (torch.float32, torch.float64)
    if not cpu or times.numel() == 0:
        return stream_order_ref(times)
    with event_sim_cpu.threads(torch.get_num_threads(), 4 * times.numel()):  # ~12 ns per entry
        return torch.from_numpy(event_sim_cpu.stream_order(times.detach().contiguous().numpy()))


def check_stream(times: torch.Tensor, channels: torch.Tensor, weight: torch.Tensor) -> None:
    if times.ndim != 2 or channels.shape != times.shape:
        raise ValueError(f"times and channels must both be [B, Q], got {tuple(times.shape)}, {tuple(channels.shape)}")
    if weight.ndim != 2:
        raise ValueError(f"weight must be [N, N_in], got shape {tuple(weight.shape)}")
    if times.dtype != weight.dtype or times.device != weight.device:
        raise ValueError(f"times ({times.dtype}, {times.device}) and weight ({weight.dtype}, {weight.device}) differ")


def event_sim_ref(
    times: torch.Tensor,
    channels: torch.Tensor,
    weight: torch.Tensor,
    tau_mem: float,
    ratio: int,
    theta: float,
    t_max: float,
    max_spikes: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spike times [B, N, K], currents at the spikes [B, N, K] and overflow flags [B, N] (module docstring)."""
    check_stream(times, channels, weight)
    B, Q = times.shape
    N, K = weight.shape[0], max_spikes
    v = torch.zeros(B, N, dtype=weight.dtype, device=weight.device)
    i, t = torch.zeros_like(v), torch.zeros_like(v)
    count = torch.zeros(B, N, dtype=torch.long, device=weight.device)
    overflow = torch.zeros(B, N, dtype=torch.bool, device=weight.device)
    out_t = torch.full((B, N, K), math.inf, dtype=weight.dtype, device=weight.device)
    out_i = torch.zeros_like(out_t)
    for q in range(Q + 1):
        t_in = times[:, q] if q < Q else torch.full((B,), math.inf, dtype=times.dtype, device=times.device)
        horizon = t_in.clamp(max=t_max)[:, None].expand(B, N)
        while True:
            s = next_spike(v, i, horizon - t, tau_mem, ratio, theta)
            fire = torch.isfinite(s)
            overflow |= fire & (count >= K)
            fire &= count < K
            if not fire.any():
                break
            v_s, i_s = advance(v, i, torch.where(fire, s, 0.0), tau_mem, ratio)
            t = torch.where(fire, t + s, t)
            slot = count.clamp(max=K - 1)[..., None]
            out_t.scatter_(2, slot, torch.where(fire, t, out_t.gather(2, slot)[..., 0])[..., None])
            out_i.scatter_(2, slot, torch.where(fire, i_s, out_i.gather(2, slot)[..., 0])[..., None])
            v, i = torch.where(fire, 0.0, v), torch.where(fire, i_s, i)
            count += fire
        v, i = advance(v, i, horizon - t, tau_mem, ratio)
        t = horizon.clone()
        if q < Q:
            live = (t_in <= t_max)[:, None]
            i = i + torch.where(live, weight[:, channels[:, q]].T, 0.0)
    return out_t, out_i, overflow


def _check_kernel_args(times, channels, weight, ratio, max_spikes) -> None:
    check_stream(times, channels, weight)
    if weight.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"weight and times must be float32 or float64, got {weight.dtype}")
    if channels.dtype not in (torch.int32, torch.int64) or channels.device != weight.device:
        raise ValueError(f"channels must be int32/int64 on {weight.device}, got {channels.dtype} on {channels.device}")
    if ratio not in RATIOS:
        raise ValueError(f"ratio (tau_mem / tau_syn) must be one of {RATIOS}, got {ratio!r}")
    if not (isinstance(max_spikes, int) and max_spikes >= 1):
        raise ValueError(f"max_spikes must be a positive integer, got {max_spikes!r}")


def event_sim(
    times: torch.Tensor,
    channels: torch.Tensor,
    weight: torch.Tensor,
    tau_mem: float,
    ratio: int,
    theta: float,
    t_max: float,
    max_spikes: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`event_sim_ref` with ``_event_sim_kernel``: spike times [B, N, K], currents [B, N, K], overflow
    [B, N] (bool). The channels of the inputs at or before ``t_max`` must lie in [0, N_in) (not checked: that
    would synchronise with the device)."""
    _check_kernel_args(times, channels, weight, ratio, max_spikes)
    check_launch(weight, _event_sim_kernel if triton else None, "event_sim_forward/event_sim_ref")
    B, Q = times.shape
    N, K = weight.shape[0], max_spikes
    times, channels = times.contiguous(), channels.contiguous()
    weight_t = weight.t().contiguous()  # [N_in, N]: the weights of one input channel are one contiguous row
    out_t = torch.full((B, N, K), math.inf, dtype=weight.dtype, device=weight.device)
    out_i = torch.zeros_like(out_t)
    overflow = torch.zeros(B, N, dtype=torch.int8, device=weight.device)
    if B * N > 0:
        with torch.cuda.device_of(weight):  # launch on weight's GPU, not the current one (no-op for CPU tensors)
            _event_sim_kernel[(B, triton.cdiv(N, BLOCK_N))](
                times, channels, weight_t, out_t, out_i, overflow, Q, N, K,
                float(tau_mem), float(theta), float(t_max), RATIO=ratio, BLOCK_N=BLOCK_N,
                num_warps=NUM_WARPS, enable_fp_fusion=False,  # no FMA: the arithmetic of the eager reference
            )  # fmt: skip
    return out_t, out_i, overflow.view(torch.bool)


def event_sim_numba(
    times: torch.Tensor,
    channels: torch.Tensor,
    weight: torch.Tensor,
    tau_mem: float,
    ratio: int,
    theta: float,
    t_max: float,
    max_spikes: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`event_sim_ref` with the Numba CPU kernel (:mod:`spikegrad.kernels.event_sim_cpu`, on torch's
    number of threads): spike times [B, N, K], currents [B, N, K], overflow [B, N] (bool). The channels of the
    inputs at or before ``t_max`` must lie in [0, N_in) (not checked)."""
    _check_kernel_args(times, channels, weight, ratio, max_spikes)
    if weight.device.type != "cpu" or event_sim_cpu is None:
        raise ValueError("event_sim_numba needs CPU tensors and numba installed")
    B, _ = times.shape
    N, K = weight.shape[0], max_spikes
    out_t = torch.full((B, N, K), math.inf, dtype=weight.dtype)
    out_i = torch.zeros_like(out_t)
    overflow = torch.zeros(B, N, dtype=torch.bool)
    if B * N > 0:
        with event_sim_cpu.threads(torch.get_num_threads(), B * times.shape[1] * N):
            event_sim_cpu.event_sim(
                times.detach().contiguous().numpy(), channels.contiguous().numpy(),
                weight.detach().t().contiguous().numpy(), out_t.numpy(), out_i.numpy(), overflow.numpy(),
                float(tau_mem), float(theta), float(t_max), ratio,
            )  # fmt: skip
    return out_t, out_i, overflow


def event_sim_forward(times, channels, weight, tau_mem, ratio, theta, t_max, max_spikes):
    """Dispatch: the Triton kernel for CUDA tensors when triton is installed, the Numba kernel for CPU tensors
    when numba is installed, else the reference."""
    if triton is not None and weight.is_cuda:
        return event_sim(times, channels, weight, tau_mem, ratio, theta, t_max, max_spikes)
    if event_sim_cpu is not None and weight.device.type == "cpu":
        return event_sim_numba(times, channels, weight, tau_mem, ratio, theta, t_max, max_spikes)
    return event_sim_ref(times, channels, weight, tau_mem, ratio, theta, t_max, max_spikes)
