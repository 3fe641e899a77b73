r"""Per-step pieces of discrete-grid EventProp (GeNN style): the neuron update forward and backward, and the
event-driven synapse backward. Equations of the grid model: :mod:`spikegrad.model`; of the adjoint:
:mod:`spikegrad.engines.eventprop`.

**Spike buffers.** In the forward pass every neuron (b, j) writes its own spikes into its own slots of
``steps [B, N, K]`` (int32 step index n; the spike is at t = (n + 1)Δt) and ``imv [B, N, K]`` (τ_m V̇⁻ = I − ϑ at
the threshold crossing), counts them in ``count [B, N]`` and keeps the fraction of its step at which the first
spike crossed ϑ in ``first [B, N]``. A neuron with more than K spikes keeps counting but
writes nothing more: the caller detects overflow from ``count > K``. No V or I trace is kept.

**Forward step n** (exact integration, zero reset):

.. math::

    I' = I + h_n, \quad U = \alpha V + c I', \quad I \leftarrow \beta I', \quad z = [U \ge \vartheta], \quad
    V \leftarrow U (1 - z), \quad \text{record } (n,\; \max(I' \beta^{f} - \vartheta,\; 0.1 (I' - \vartheta)))
    \text{ where } z = 1, \quad f = \frac{\vartheta - V}{U - V}

τ_m V̇ = I − ϑ is taken at the crossing time t̂ = (n + f)Δt, linearly interpolated inside the step, with the exact
current there (I' β^f). GeNN stores I − U at the step's end instead; on a coarse grid that can be near zero or
negative (the voltage overshoots ϑ and the current has decayed), and 1/(I − U) then blows the adjoint up. Both
agree to O(Δt). I' − ϑ > 0 bounds the true value from above whenever V crosses ϑ inside the step (V cannot pass
the decaying I), so the floor only guards a badly interpolated crossing.

**Backward step n** takes the adjoints (λ_V, λ_I) at t = (n+1)Δt, just after the step (in forward time), back to
the start of the step, t = nΔt, just after its input arrived. First the jump of neurons that spiked at step n,
then the exact solution over the step with a drive A constant over it (λ_V relaxes to A; A = −(1/Δt)∂L/∂Ū_n
for a loss on the step-averaged readout voltage Ū_n, 0 for hidden layers):

.. math::

    \lambda_V \mathrel{+}= \frac{\vartheta \lambda_V + g}{\tau_m \dot V^-} + j \quad\text{(spiked at step n)}

    \lambda_V \leftarrow A + \alpha (\lambda_V - A), \qquad
    \lambda_I \leftarrow A + \beta (\lambda_I - A) + c_\lambda (\lambda_V - A), \qquad
    c_\lambda = \frac{\tau_m}{\tau_s} c

with g = ∂L/∂t_k of that spike (from downstream layers, recurrent targets and the loss; plus ∂L/∂t of the first
spike when this is the neuron's first) and j a direct jump (the spike-count gradient).

**Synapse backward at step n**, for every presynaptic event (b, j, value) that arrived at the start of step n:

.. math::

    \frac{\partial L}{\partial w_{ij}} \mathrel{+}= -\tau_s\, \text{value}\; \lambda_{I,bi}, \qquad
    \frac{\partial L}{\partial t_{bj}} = \sum_i w_{ij} (\lambda_V - \lambda_I)_{bi}

which touches only the columns of W that carry an event.

**Kernels.** Each of the three steps has a Triton kernel, a launcher (``neuron_fwd_step_triton``,
``neuron_bwd_step_triton``, ``synapse_bwd_step_triton``: CUDA tensors, or CPU tensors when ``TRITON_INTERPRET=1``
was set before triton was imported), the PyTorch reference (``*_ref``) and a dispatch function (``neuron_fwd_step``,
``neuron_bwd_step``, ``synapse_bwd_step``) that uses the kernel for CUDA tensors when triton is installed.

- ``_neuron_fwd_kernel``: one program per ``BLOCK`` of the B·N neurons does the forward step, writes z, V, I to new
  tensors and, for each neuron that spikes, (n, τ_m V̇) into its slot ``count`` (when count < K) and count + 1.
- ``_neuron_bwd_kernel``: one program per ``BLOCK`` of neurons reads each neuron's slot ``ptr``, applies the jump
  where that slot holds a spike at step n (decrementing ``ptr`` there), the ∂L/∂U source and the decay; absent
  optional inputs are constexpr flags, so they cost nothing.
- ``_synapse_bwd_kernel``: a 2-D grid of (``BLOCK_E`` events of the step) × (``BLOCK_I`` postsynaptic neurons);
  each program atomically adds −τ_s·value·λ_I[b, i] into grad_w[i, j] (events of different samples share a
  column) and its partial sum of w_ij (λ_V − λ_I)[b, i] into ∂L/∂t of the event (zero-initialised).

Roofline. Every kernel does a few flops per byte, so all are memory-bound. With s bytes per float (4 or 8) and
int32 buffers, per neuron and step: the forward step reads h, V, I and writes z, V, I (6s), and per spike reads
and writes count and writes the step and τ_m V̇ (12 + s). The backward step reads and writes λ_V, λ_I (4s) and
∂L/∂U when given (s); with a buffer it reads ptr and the step in slot ptr (8; that gather is strided by 4K bytes,
so it costs a sector per neuron), and per spike τ_m V̇, g, g_first (first spikes only) and jump when given, and
writes ptr (4 + up to 4s).
The synapse step moves per event its indices and value (16 + s), the λ_I row (Ns; rows are L2-resident for small
B) and the atomic read-modify-write of column j of grad_w (2Ns), and for ∂L/∂t also the λ_V row and column j of
W (2Ns) and the result (s). W is row-major [N, N_in], so a column is strided by N_in and each element costs a
32-byte sector unless W stays in L2 (256·700 float32 weights are 0.7 MB). Effective bandwidth is ``bytes / time``
from these counts. Floors of one SHD-sized step (:mod:`spikegrad.bench.training_step`: T = 1000, B = 32,
N = 256 recurrent, 700 inputs at 5 Hz, about 12 hidden spikes per neuron, float32): neuron steps 0.2 GB forward
and 0.16 GB backward; synapse steps about 5 KB per event for 1.1·10⁵ input and 0.95·10⁵ hidden events, 1.0 GB
(L2-served for the most part); in all ≈ 1.4 GB, i.e. bytes/bandwidth = 0.4 ms on an H100 (0.3 ms on an H200),
with flops/peak ≈ 0.01 ms. Measured fraction: not measured yet (no GPU lent); the per-step launches (2T
kernels of microseconds each) are the realistic bound, ≈ 10 ms per pass.
"""

import math
from typing import NamedTuple

import torch

from spikegrad.kernels.launch import check_launch
from spikegrad.model import crossing_fraction

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the references still work
    triton = None

BLOCK = 256  # neurons per program of the neuron steps
NUM_WARPS = 2
BLOCK_E = 16  # events per program of the synapse step
BLOCK_I = 64  # postsynaptic neurons per program of the synapse step
SYN_WARPS = 4

if triton is not None:
    # As in spikegrad.kernels.lif_scan: float constants are annotated float64 (unrounded when compiled) and cast
    # to the tensor dtype with tl.full, and enable_fp_fusion=False keeps the arithmetic equal to the eager
    # reference (no FMA), so the threshold test U >= ϑ agrees bit for bit.
    @triton.jit
    def _neuron_fwd_kernel(
        h_ptr, v_ptr, i_ptr, z_out, v_out, i_out, steps_ptr, imv_ptr, count_ptr, first_ptr, n, M, K,
        alpha: tl.float64, beta: tl.float64, c: tl.float64, theta: tl.float64, log_beta: tl.float64,
        imv_floor: tl.float64, BLOCK: tl.constexpr,
    ):  # fmt: skip
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        dtype = v_out.dtype.element_ty
        v = tl.load(v_ptr + offs, mask=mask, other=0.0)
        i_in = tl.load(i_ptr + offs, mask=mask, other=0.0) + tl.load(h_ptr + offs, mask=mask, other=0.0)
        u = tl.full([BLOCK], alpha, dtype) * v + tl.full([BLOCK], c, dtype) * i_in
        i = tl.full([BLOCK], beta, dtype) * i_in
        theta_ = tl.full([BLOCK], theta, dtype)
        spiked = u >= theta_
        frac = tl.minimum(tl.maximum((theta_ - v) / tl.where(u > v, u - v, 1.0), 0.0), 1.0)
        slope = i_in * tl.exp(frac * tl.full([BLOCK], log_beta, dtype)) - theta_
        slope = tl.maximum(slope, tl.full([BLOCK], imv_floor, dtype) * (i_in - theta_))
        z = spiked.to(dtype)
        tl.store(z_out + offs, z, mask=mask)
        tl.store(v_out + offs, u * (1.0 - z), mask=mask)
        tl.store(i_out + offs, i, mask=mask)
        fired = mask & spiked
        count = tl.load(count_ptr + offs, mask=fired, other=0)
        write = fired & (count < K)
        slot = offs * K + count.to(tl.int64)
        tl.store(steps_ptr + slot, tl.full([BLOCK], n, steps_ptr.dtype.element_ty), mask=write)
        tl.store(imv_ptr + slot, slope, mask=write)
        tl.store(first_ptr + offs, frac, mask=write & (count == 0))
        tl.store(count_ptr + offs, count + 1, mask=fired)

    @triton.jit
    def _neuron_bwd_kernel(
        lv_ptr, li_ptr, lv_out, li_out, steps_ptr, imv_ptr, ptr_ptr, g_ptr, gf_ptr, jump_ptr, drive_ptr, n, M, K,
        alpha: tl.float64, beta: tl.float64, c_adj: tl.float64, theta: tl.float64,
        HAS_BUF: tl.constexpr, HAS_G: tl.constexpr, HAS_GF: tl.constexpr, HAS_JUMP: tl.constexpr,
        HAS_DRIVE: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        dtype = lv_out.dtype.element_ty
        lam_v = tl.load(lv_ptr + offs, mask=mask, other=0.0)
        lam_i = tl.load(li_ptr + offs, mask=mask, other=0.0)
        if HAS_BUF:
            p = tl.load(ptr_ptr + offs, mask=mask, other=-1)
            live = mask & (p >= 0) & (p < K)
            slot = offs * K + tl.maximum(p, 0).to(tl.int64)
            spiked = live & (tl.load(steps_ptr + slot, mask=live, other=-1) == n)
            total = lam_v * tl.full([BLOCK], theta, dtype)
            if HAS_G:
                total = total + tl.load(g_ptr + offs, mask=spiked, other=0.0)
            if HAS_GF:
                total = total + tl.load(gf_ptr + offs, mask=spiked & (p == 0), other=0.0)
            jump = total / tl.load(imv_ptr + slot, mask=spiked, other=1.0)
            if HAS_JUMP:
                jump = jump + tl.load(jump_ptr + offs, mask=spiked, other=0.0)
            lam_v = tl.where(spiked, lam_v + jump, lam_v)
            tl.store(ptr_ptr + offs, p - 1, mask=spiked)
        drive = tl.zeros([BLOCK], dtype)
        if HAS_DRIVE:
            drive = tl.load(drive_ptr + offs, mask=mask, other=0.0)
        lam_v = lam_v - drive
        lam_i = lam_i - drive
        tl.store(lv_out + offs, drive + tl.full([BLOCK], alpha, dtype) * lam_v, mask=mask)
        lam_i = drive + tl.full([BLOCK], beta, dtype) * lam_i + tl.full([BLOCK], c_adj, dtype) * lam_v
        tl.store(li_out + offs, lam_i, mask=mask)

    @triton.jit
    def _synapse_bwd_kernel(
        lv_ptr, li_ptr, b_ptr, j_ptr, val_ptr, w_ptr, gw_ptr, gt_ptr, E, N, N_in, tau_syn: tl.float64,
        NEED_T: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_I: tl.constexpr,
    ):  # fmt: skip
        e = tl.program_id(0).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E)
        i = tl.program_id(1).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)
        emask = e < E
        tile = emask[:, None] & (i < N)[None, :]
        dtype = gw_ptr.dtype.element_ty
        b = tl.load(b_ptr + e, mask=emask, other=0).to(tl.int64)
        j = tl.load(j_ptr + e, mask=emask, other=0).to(tl.int64)
        coef = tl.full([BLOCK_E], -tau_syn, dtype) * tl.load(val_ptr + e, mask=emask, other=0.0).to(dtype)
        lam = b[:, None] * N + i[None, :]
        lam_i = tl.load(li_ptr + lam, mask=tile, other=0.0)
        col = i[None, :] * N_in + j[:, None]  # w_ij: column j of the row-major [N, N_in] matrix
        tl.atomic_add(gw_ptr + col, lam_i * coef[:, None], mask=tile, sem="relaxed")
        if NEED_T:
            w = tl.load(w_ptr + col, mask=tile, other=0.0)
            part = tl.sum((tl.load(lv_ptr + lam, mask=tile, other=0.0) - lam_i) * w, axis=1)
            tl.atomic_add(gt_ptr + e, part, mask=emask, sem="relaxed")


class EventConstants(NamedTuple):
    alpha: float  # e^{−Δt/τ_m}
    beta: float  # e^{−Δt/τ_s}
    c: float  # current-to-voltage gain of one step (spikegrad.model.decay_factors)
    c_adj: float  # c_λ = c τ_m / τ_s
    theta: float  # ϑ
    tau_mem: float  # τ_m, ms
    tau_syn: float  # τ_s, ms


class SpikeBuffer(NamedTuple):
    """A layer's own spikes: per-neuron slots (module docstring)."""

    steps: torch.Tensor  # [B, N, K] int32, step of each spike
    imv: torch.Tensor  # [B, N, K] τ_m V̇ = I − ϑ at the crossing
    count: torch.Tensor  # [B, N] int32, spikes per neuron (may exceed K: overflow)
    first: torch.Tensor  # [B, N] fraction f of its step at which the first spike crossed ϑ (t = (n + f)Δt)


class StepEvents(NamedTuple):
    """Presynaptic spikes of a dense raster x [T, B, N_in] grouped by step: events offsets[n]:offsets[n+1]."""

    offsets: list[int]  # T + 1 python ints (host side, so slicing a step needs no device sync)
    step: torch.Tensor  # [E] int32, ascending
    batch: torch.Tensor  # [E] int32
    channel: torch.Tensor  # [E] int32
    value: torch.Tensor  # [E] x at the event (1 for a binary raster)


def step_events(x: torch.Tensor) -> StepEvents:
    """The non-zero entries of x [T, B, N_in] as step-grouped events."""
    t, b, j = x.nonzero(as_tuple=True)
    counts = torch.bincount(t, minlength=x.shape[0]).tolist()
    offsets = [0]
    for c in counts:
        offsets.append(offsets[-1] + c)
    index = torch.int32
    return StepEvents(offsets, t.to(index), b.to(index), j.to(index), x[t, b, j])


def empty_buffer(batch: int, n: int, capacity: int, like: torch.Tensor) -> SpikeBuffer:
    steps = torch.full((batch, n, capacity), -1, dtype=torch.int32, device=like.device)
    imv = like.new_zeros(batch, n, capacity)
    count = torch.zeros(batch, n, dtype=torch.int32, device=like.device)
    return SpikeBuffer(steps, imv, count, like.new_zeros(batch, n))


IMV_FLOOR = 0.1  # guard: (I − ϑ) at the crossing is at least this fraction of its bound I' − ϑ > 0


def crossing(
    v0: torch.Tensor, u: torch.Tensor, i_in: torch.Tensor, k: EventConstants
) -> tuple[torch.Tensor, torch.Tensor]:
    """(f, τ_m V̇ = I − ϑ) at the threshold crossing inside a step, at t = (n + f)Δt (module docstring)."""
    frac = crossing_fraction(v0, u, k.theta)
    log_beta = math.log(k.beta) if isinstance(k.beta, float) else torch.log(k.beta)
    slope = i_in * torch.exp(frac * log_beta) - k.theta
    return frac, torch.maximum(slope, IMV_FLOOR * (i_in - k.theta))


def neuron_fwd_step_ref(
    h_n: torch.Tensor, v: torch.Tensor, i: torch.Tensor, buf: SpikeBuffer, n: int, k: EventConstants
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward step n (module docstring) for h_n, V, I [B, N]; records spikes in ``buf`` in place.

    Returns (z, V, I)."""
    i_in = i + h_n
    u = k.alpha * v + k.c * i_in
    spiked = u >= k.theta
    b, j = spiked.nonzero(as_tuple=True)
    slot = buf.count[b, j].long()
    if slot.numel() and int(slot.max()) >= buf.steps.shape[-1]:  # overflow: count, but write nothing
        keep = slot < buf.steps.shape[-1]
        b, j, slot = b[keep], j[keep], slot[keep]
    frac, slope = crossing(v, u, i_in, k)
    frac, slope = frac[b, j], slope[b, j]
    buf.steps[b, j, slot] = n
    buf.imv[b, j, slot] = slope
    first = slot == 0
    buf.first[b[first], j[first]] = frac[first]
    i = k.beta * i_in
    buf.count.add_(spiked.to(torch.int32))
    z = spiked.to(u.dtype)
    return z, u * (1.0 - z), i


def spiked_at(buf: SpikeBuffer, ptr: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask of neurons whose buffer slot ``ptr`` holds a spike at step n, τ_m V̇ of that spike)."""
    slot = ptr.clamp(min=0).long().unsqueeze(-1)
    mask = (ptr >= 0) & (buf.steps.gather(-1, slot).squeeze(-1) == n)
    return mask, buf.imv.gather(-1, slot).squeeze(-1)


def neuron_bwd_step_ref(
    lam_v: torch.Tensor,
    lam_i: torch.Tensor,
    n: int,
    k: EventConstants,
    buf: SpikeBuffer | None = None,
    ptr: torch.Tensor | None = None,
    g: torch.Tensor | None = None,
    g_first: torch.Tensor | None = None,
    jump: torch.Tensor | None = None,
    drive: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward step n (module docstring). ``ptr [B, N]`` is each neuron's last unread buffer slot and is
    decremented in place past a spike at step n. ``g`` = ∂L/∂t_k of a spike at step n, ``g_first`` = ∂L/∂t of the
    first spike, ``jump`` = direct λ_V jump per spike, ``drive`` = A, constant over the step (each [B, N] or
    None = 0).

    Returns (λ_V, λ_I) at the start of step n."""
    if buf is not None:
        spiked, imv = spiked_at(buf, ptr, n)
        total = lam_v * k.theta
        if g is not None:
            total = total + g
        if g_first is not None:
            total = total + torch.where(ptr == 0, g_first, 0.0)
        step = total / torch.where(spiked, imv, 1.0)
        if jump is not None:
            step = step + jump
        lam_v = torch.where(spiked, lam_v + step, lam_v)
        ptr.sub_(spiked.to(ptr.dtype))
    if drive is None:
        return k.alpha * lam_v, k.beta * lam_i + k.c_adj * lam_v
    lam_v, lam_i = lam_v - drive, lam_i - drive
    return drive + k.alpha * lam_v, drive + k.beta * lam_i + k.c_adj * lam_v


def synapse_bwd_step_ref(
    lam_v: torch.Tensor,
    lam_i: torch.Tensor,
    batch: torch.Tensor,
    channel: torch.Tensor,
    value: torch.Tensor,
    weight: torch.Tensor,
    grad_w: torch.Tensor,
    k: EventConstants,
    need_grad_t: bool = True,
) -> torch.Tensor | None:
    """Synapse backward (module docstring) for the events (batch, channel, value) [E] of one step; λ [B, N],
    weight and grad_w [N, N_in] (grad_w accumulated in place). Returns ∂L/∂t per event [E], or None.

    ``batch`` indexes the rows of λ: for a block of S steps pass λ [S·B, N] and rows (step − first)·B + b."""
    if batch.numel() == 0:
        return lam_v.new_zeros(0) if need_grad_t else None
    x = lam_i.new_zeros(lam_i.shape[0], weight.shape[1])  # the events as a dense block: one BLAS call on CPU
    x.index_put_((batch, channel), value.to(x.dtype), accumulate=True)
    grad_w.addmm_((lam_i * k.tau_syn).T, x, alpha=-1.0)
    if not need_grad_t:
        return None
    return ((lam_v - lam_i) @ weight)[batch, channel]


def _check(name: str, x: torch.Tensor, shape: tuple[int, ...], like: torch.Tensor | None = None) -> None:
    """``x`` has ``shape``, is on ``like``'s device and, for a float tensor, has its dtype (float32/float64)."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    if like is None:
        if x.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    elif x.dtype != like.dtype or x.device != like.device:
        raise ValueError(f"{name} must be {like.dtype} on {like.device}, got {x.dtype} on {x.device}")


def _check_index(name: str, x: torch.Tensor, shape: tuple[int, ...], like: torch.Tensor) -> None:
    if tuple(x.shape) != tuple(shape) or x.dtype not in (torch.int32, torch.int64) or x.device != like.device:
        raise ValueError(
            f"{name} must be int32/int64 of shape {tuple(shape)} on {like.device}, "
            f"got {x.dtype} {tuple(x.shape)} on {x.device}"
        )


def _writable(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when contiguous (the usual case), else a contiguous copy for the caller to copy back."""
    return x if x.is_contiguous() else x.contiguous()


def _copy_back(dst: torch.Tensor, src: torch.Tensor) -> None:
    if src is not dst:
        dst.copy_(src)


def _check_buffer(buf: SpikeBuffer, like: torch.Tensor) -> int:
    """Shapes and dtypes of a spike buffer for state ``like [B, N]``; returns its capacity K."""
    _check_index("buf.steps", buf.steps, (*like.shape, buf.steps.shape[-1]), like)
    _check("buf.imv", buf.imv, buf.steps.shape, like)
    _check_index("buf.count", buf.count, like.shape, like)
    _check("buf.first", buf.first, like.shape, like)
    return buf.steps.shape[-1]


def neuron_fwd_step_triton(
    h_n: torch.Tensor, v: torch.Tensor, i: torch.Tensor, buf: SpikeBuffer, n: int, k: EventConstants
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`neuron_fwd_step_ref` with ``_neuron_fwd_kernel``; z, V, I are new tensors, ``buf`` is updated in
    place."""
    if v.dim() != 2:
        raise ValueError(f"v must be 2-D [B, N], got shape {tuple(v.shape)}")
    _check("v", v, v.shape)
    _check("h_n", h_n, v.shape, like=v)
    _check("i", i, v.shape, like=v)
    capacity = _check_buffer(buf, v)
    check_launch(v, _neuron_fwd_kernel if triton else None, "the dispatch functions")
    h_n, v, i = h_n.contiguous(), v.contiguous(), i.contiguous()
    steps, imv, count, first = (_writable(x) for x in buf)
    z, v_new, i_new = torch.empty_like(v), torch.empty_like(v), torch.empty_like(v)
    if v.numel() > 0:
        with torch.cuda.device_of(v):  # launch on v's GPU, not the current one (no-op for CPU tensors)
            _neuron_fwd_kernel[(triton.cdiv(v.numel(), BLOCK),)](
                h_n, v, i, z, v_new, i_new, steps, imv, count, first, int(n), v.numel(), capacity,
                float(k.alpha), float(k.beta), float(k.c), float(k.theta), math.log(k.beta), IMV_FLOOR,
                BLOCK=BLOCK, num_warps=NUM_WARPS, enable_fp_fusion=False,
            )  # fmt: skip
    for dst, src in zip(buf, (steps, imv, count, first), strict=True):
        _copy_back(dst, src)
    return z, v_new, i_new


def neuron_bwd_step_triton(
    lam_v: torch.Tensor,
    lam_i: torch.Tensor,
    n: int,
    k: EventConstants,
    buf: SpikeBuffer | None = None,
    ptr: torch.Tensor | None = None,
    g: torch.Tensor | None = None,
    g_first: torch.Tensor | None = None,
    jump: torch.Tensor | None = None,
    drive: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`neuron_bwd_step_ref` with ``_neuron_bwd_kernel``; (λ_V, λ_I) are new tensors, ``ptr`` is
    decremented in place. As in the reference, g, g_first and jump only act with a buffer."""
    if lam_v.dim() != 2:
        raise ValueError(f"lam_v must be 2-D [B, N], got shape {tuple(lam_v.shape)}")
    _check("lam_v", lam_v, lam_v.shape)
    _check("lam_i", lam_i, lam_v.shape, like=lam_v)
    if buf is None:
        g = g_first = jump = None
        capacity = 1
    else:
        if ptr is None:
            raise ValueError("ptr (each neuron's last unread buffer slot) is required with buf")
        capacity = _check_buffer(buf, lam_v)
        _check_index("ptr", ptr, lam_v.shape, lam_v)
    for name, x in (("g", g), ("g_first", g_first), ("jump", jump), ("drive", drive)):
        if x is not None:
            _check(name, x, lam_v.shape, like=lam_v)
    check_launch(lam_v, _neuron_fwd_kernel if triton else None, "the dispatch functions")
    lam_v, lam_i = lam_v.contiguous(), lam_i.contiguous()
    g, g_first, jump, drive = (None if x is None else x.contiguous() for x in (g, g_first, jump, drive))
    steps, imv = (lam_v, lam_v) if buf is None else (buf.steps.contiguous(), buf.imv.contiguous())
    slots = None if buf is None else _writable(ptr)
    lv_new, li_new = torch.empty_like(lam_v), torch.empty_like(lam_v)
    if lam_v.numel() > 0:
        with torch.cuda.device_of(lam_v):
            _neuron_bwd_kernel[(triton.cdiv(lam_v.numel(), BLOCK),)](
                lam_v, lam_i, lv_new, li_new, steps, imv,
                lam_v if slots is None else slots,  # absent inputs get a dummy pointer that is never read
                lam_v if g is None else g,
                lam_v if g_first is None else g_first,
                lam_v if jump is None else jump,
                lam_v if drive is None else drive,
                int(n), lam_v.numel(), capacity,
                float(k.alpha), float(k.beta), float(k.c_adj), float(k.theta),
                HAS_BUF=buf is not None, HAS_G=g is not None, HAS_GF=g_first is not None,
                HAS_JUMP=jump is not None, HAS_DRIVE=drive is not None, BLOCK=BLOCK,
                num_warps=NUM_WARPS, enable_fp_fusion=False,
            )  # fmt: skip
    if slots is not None:
        _copy_back(ptr, slots)
    return lv_new, li_new


def synapse_bwd_step_triton(
    lam_v: torch.Tensor,
    lam_i: torch.Tensor,
    batch: torch.Tensor,
    channel: torch.Tensor,
    value: torch.Tensor,
    weight: torch.Tensor,
    grad_w: torch.Tensor,
    k: EventConstants,
    need_grad_t: bool = True,
) -> torch.Tensor | None:
    """:func:`synapse_bwd_step_ref` with ``_synapse_bwd_kernel``; grad_w is accumulated in place."""
    if weight.dim() != 2 or lam_v.dim() != 2:
        raise ValueError(f"weight and lam_v must be 2-D, got {tuple(weight.shape)} and {tuple(lam_v.shape)}")
    _check("weight", weight, weight.shape)
    n_post, n_in = weight.shape
    _check("grad_w", grad_w, weight.shape, like=weight)
    _check("lam_v", lam_v, (lam_v.shape[0], n_post), like=weight)
    _check("lam_i", lam_i, lam_v.shape, like=weight)
    events = batch.shape[0] if batch.dim() == 1 else -1
    _check_index("batch", batch, (events,), weight)
    _check_index("channel", channel, (events,), weight)
    if tuple(value.shape) != (events,) or value.device != weight.device:
        raise ValueError(f"value must have shape ({events},) on {weight.device}, got {tuple(value.shape)}")
    check_launch(weight, _neuron_fwd_kernel if triton else None, "the dispatch functions")
    grad_t = lam_v.new_zeros(events) if need_grad_t else None
    if events == 0:
        return grad_t
    lam_v, lam_i, weight = lam_v.contiguous(), lam_i.contiguous(), weight.contiguous()
    batch, channel, value = batch.contiguous(), channel.contiguous(), value.contiguous()
    gw = _writable(grad_w)
    with torch.cuda.device_of(weight):
        _synapse_bwd_kernel[(triton.cdiv(events, BLOCK_E), triton.cdiv(n_post, BLOCK_I))](
            lam_v, lam_i, batch, channel, value, weight, gw, lam_v if grad_t is None else grad_t,
            events, n_post, n_in, float(k.tau_syn),
            NEED_T=need_grad_t, BLOCK_E=BLOCK_E, BLOCK_I=BLOCK_I, num_warps=SYN_WARPS, enable_fp_fusion=False,
        )  # fmt: skip
    _copy_back(grad_w, gw)
    return grad_t


def _use_kernel(x: torch.Tensor, k: EventConstants) -> bool:
    """CUDA tensor, triton installed and one set of scalar constants (per-neuron τ runs on the reference)."""
    return triton is not None and x.is_cuda and all(isinstance(c, float) for c in k)


def neuron_fwd_step(h_n, v, i, buf: SpikeBuffer, n: int, k: EventConstants):
    """:func:`neuron_fwd_step_triton` for CUDA tensors when triton is installed, else the reference."""
    if _use_kernel(v, k):
        return neuron_fwd_step_triton(h_n, v, i, buf, n, k)
    return neuron_fwd_step_ref(h_n, v, i, buf, n, k)


def neuron_bwd_step(lam_v, lam_i, n: int, k: EventConstants, buf=None, ptr=None, g=None, g_first=None, jump=None,
                    drive=None):  # fmt: skip
    """:func:`neuron_bwd_step_triton` for CUDA tensors when triton is installed, else the reference."""
    if _use_kernel(lam_v, k):
        return neuron_bwd_step_triton(lam_v, lam_i, n, k, buf, ptr, g, g_first, jump, drive)
    return neuron_bwd_step_ref(lam_v, lam_i, n, k, buf, ptr, g, g_first, jump, drive)


def synapse_bwd_step(lam_v, lam_i, batch, channel, value, weight, grad_w, k: EventConstants, need_grad_t=True):
    """:func:`synapse_bwd_step_triton` for CUDA tensors when triton is installed, else the reference."""
    if _use_kernel(weight, k):
        return synapse_bwd_step_triton(lam_v, lam_i, batch, channel, value, weight, grad_w, k, need_grad_t)
    return synapse_bwd_step_ref(lam_v, lam_i, batch, channel, value, weight, grad_w, k, need_grad_t)
