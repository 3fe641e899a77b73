r"""Time loop of a current-based LIF layer whose input currents ``h`` are known for all steps in advance.

The update is the exact one-step integration of :mod:`spikegrad.model`, with state starting at zero, for
tensors ``[T, B, N]`` and python floats α, β, c, ϑ (ϑ = ∞ gives a non-spiking leaky integrator, z = 0):

.. math::

    I' = I_{t-1} + h_t, \qquad U_t = \alpha V_{t-1} + c I', \qquad I_t = \beta I', \qquad
    z_t = \Theta(U_t - \vartheta)

    V_t = U_t (1 - z_t) \text{ (reset "zero")} \quad\text{or}\quad
    V_t = U_t - \vartheta z_t \text{ (reset "subtract")}

The backward pass is the reverse scan of the adjoints :math:`a_V = \partial L/\partial V_t` and
:math:`a_I = \partial L/\partial I_t`, both zero after the last step, with the caller's surrogate derivative
:math:`\sigma'_t = \sigma'(U_t - \vartheta)` standing in for :math:`\partial z_t/\partial U_t`:

.. math::

    g_z = \frac{\partial L}{\partial z_t}
          + [\text{not detach\_reset}]\; a_V \frac{\partial V_t}{\partial z_t}, \qquad
    \frac{\partial V_t}{\partial z_t} = -U_t \text{ (zero)} \quad\text{or}\quad -\vartheta \text{ (subtract)}

    g_U = \frac{\partial L}{\partial U_t} + a_V \frac{\partial V_t}{\partial U_t} + g_z \sigma'_t, \qquad
    \frac{\partial V_t}{\partial U_t} = 1 - z_t \text{ (zero)} \quad\text{or}\quad 1 \text{ (subtract)}

    \frac{\partial L}{\partial h_t} = g_I = c\, g_U + \beta a_I, \qquad a_V \leftarrow \alpha g_U, \qquad
    a_I \leftarrow g_I

z_t is recomputed from the saved U_t. A non-spiking layer has no g_z term and ∂V/∂U = 1.

Roofline. Each program owns ``BLOCK`` of the B·N neurons and walks the T steps sequentially; every
element-step does a handful of flops, so both passes are memory-bound. With s bytes per element (4 for
float32, 8 for float64) the bytes moved per element-step are

- forward: read h, write z and U: 3s (2s for a non-spiking layer, whose z is a memset, not a kernel write);
- backward: read ∂L/∂z, ∂L/∂U, U, σ', write ∂L/∂h: 5s (each absent gradient saves s; non-spiking: read
  ∂L/∂U, write ∂L/∂h: 2s).

Effective bandwidth is therefore ``bytes_per_step · T · B · N / time``. With ~8 (forward) and ~10 (backward)
flops per element-step, on the Open Neuromorphic benchmark's largest layer (T = 500, B = 16, N = 16384,
float32: 1.3·10⁸ element-steps) the floors are bytes/bandwidth = 0.47 / 0.78 ms (forward / backward) on an
H100 SXM (3.35 TB/s) and 0.33 / 0.55 ms on an H200 (4.8 TB/s), against flops/peak = 0.016 / 0.020 ms (67 TFLOP/s
FP32): a bandwidth floor. Measured fraction of it: not measured yet (no GPU was lent to the task that wrote
this); ``python -m spikegrad.bench.lif_scan`` on a GPU writes it (``*_roofline`` in its JSON,
:mod:`spikegrad.bench.roofline`), as ``scripts/gpu_check.sh`` does.

This module holds the kernels (``_lif_scan_fwd_kernel``, ``_lif_scan_bwd_kernel``), their launchers
(``lif_scan_fwd``, ``lif_scan_bwd``: CUDA tensors, or CPU tensors when ``TRITON_INTERPRET=1`` was set before
triton was imported), the PyTorch references (``lif_scan_fwd_ref``, ``lif_scan_bwd_ref``) and the dispatch
(``lif_scan_forward``, ``lif_scan_backward``) that uses the kernel for CUDA tensors when triton is installed.
"""

import math
from typing import NamedTuple

import torch

from spikegrad.kernels.launch import check_launch
from spikegrad.model import RESETS, LIFParams, after_reset, decay_factors, membrane_step

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the references still work
    triton = None

try:
    from spikegrad.kernels import lif_scan_cpu
except ImportError:  # numba not installed: the references still work
    lif_scan_cpu = None

BLOCK = 256  # neurons per program; 4 float32 per thread with NUM_WARPS = 2 (16-byte vector loads)
NUM_WARPS = 2

if triton is not None:
    # α, β, c, ϑ are annotated float64 so that a compiled kernel receives them unrounded; tl.full then casts
    # them to the tensor dtype (the interpreter passes python floats, which tl.full converts the same way).
    # The time loops are `while` loops because the Triton 3.6 interpreter cannot take range() of a runtime
    # integer under NumPy >= 2.4 (triton-lang/triton#9171); compiled, they vectorise like a `for` loop.
    @triton.jit
    def _lif_scan_fwd_kernel(
        h_ptr, z_ptr, u_ptr, T, M,
        alpha: tl.float64, beta: tl.float64, c: tl.float64, theta: tl.float64,
        SPIKING: tl.constexpr, SUBTRACT: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        dtype = h_ptr.dtype.element_ty
        alpha_ = tl.full([BLOCK], alpha, dtype)
        beta_ = tl.full([BLOCK], beta, dtype)
        c_ = tl.full([BLOCK], c, dtype)
        theta_ = tl.full([BLOCK], theta, dtype)
        step = tl.cast(M, tl.int64)
        v = tl.zeros([BLOCK], dtype)
        i = tl.zeros([BLOCK], dtype)
        idx = offs
        t = 0
        while t < T:
            # spikegrad.model.membrane_step (the one definition of the update)
            i = i + tl.load(h_ptr + idx, mask=mask, other=0.0)
            u = alpha_ * v + c_ * i
            i = beta_ * i
            if SPIKING:
                z = (u >= theta_).to(dtype)
                if SUBTRACT:
                    v = u - theta_ * z
                else:
                    v = u * (1.0 - z)
                tl.store(z_ptr + idx, z, mask=mask)
            else:
                v = u
            tl.store(u_ptr + idx, u, mask=mask)
            idx += step
            t += 1

    @triton.jit
    def _lif_scan_bwd_kernel(
        gz_ptr, gu_ptr, u_ptr, sg_ptr, gh_ptr, T, M,
        alpha: tl.float64, beta: tl.float64, c: tl.float64, theta: tl.float64,
        HAS_GZ: tl.constexpr, HAS_GU: tl.constexpr, SPIKING: tl.constexpr, SUBTRACT: tl.constexpr,
        DETACH: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        dtype = gh_ptr.dtype.element_ty
        alpha_ = tl.full([BLOCK], alpha, dtype)
        beta_ = tl.full([BLOCK], beta, dtype)
        c_ = tl.full([BLOCK], c, dtype)
        theta_ = tl.full([BLOCK], theta, dtype)
        step = tl.cast(M, tl.int64)
        a_v = tl.zeros([BLOCK], dtype)
        a_i = tl.zeros([BLOCK], dtype)
        idx = offs + (T - 1) * step
        t = 0
        while t < T:
            gu = tl.zeros([BLOCK], dtype)
            if HAS_GU:
                gu = tl.load(gu_ptr + idx, mask=mask, other=0.0)
            if SPIKING:
                u = tl.load(u_ptr + idx, mask=mask, other=0.0)
                z = (u >= theta_).to(dtype)
                gz = tl.zeros([BLOCK], dtype)
                if HAS_GZ:
                    gz = tl.load(gz_ptr + idx, mask=mask, other=0.0)
                if SUBTRACT:
                    if not DETACH:
                        gz = gz - a_v * theta_
                    gu = gu + a_v
                else:
                    if not DETACH:
                        gz = gz - a_v * u
                    gu = gu + a_v * (1.0 - z)
                gu = gu + gz * tl.load(sg_ptr + idx, mask=mask, other=0.0)
            else:
                gu = gu + a_v
            gi = gu * c_ + a_i * beta_
            tl.store(gh_ptr + idx, gi, mask=mask)
            a_v = gu * alpha_
            a_i = gi
            idx -= step
            t += 1


def _spiking(theta: float) -> bool:
    """True for a finite threshold, False for ϑ = +∞ (leaky integrator); ValueError for NaN or -∞."""
    if math.isnan(theta) or theta == -math.inf:
        raise ValueError(f"theta must be finite or +inf (non-spiking), got {theta}")
    return theta != math.inf


def _check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def _check_tensor(name: str, x: torch.Tensor, like: torch.Tensor | None = None) -> None:
    """``x`` must be a float32/float64 tensor [T, B, N], matching ``like`` in shape, dtype and device."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{name} must be 3-D [T, B, N], got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    if like is not None and (x.shape != like.shape or x.dtype != like.dtype or x.device != like.device):
        raise ValueError(
            f"{name} must match u: got {tuple(x.shape)} {x.dtype} on {x.device}, "
            f"expected {tuple(like.shape)} {like.dtype} on {like.device}"
        )


def _check_fwd(h: torch.Tensor, theta: float, reset: str) -> bool:
    """Validate forward arguments; return whether the layer spikes."""
    _check_tensor("h", h)
    _check_reset(reset)
    return _spiking(theta)


def _check_bwd(grad_z, grad_u, u, sg, theta: float, reset: str) -> bool:
    """Validate backward arguments; return whether the layer spikes."""
    _check_tensor("u", u)
    for name, x in (("grad_z", grad_z), ("grad_u", grad_u), ("sg", sg)):
        if x is not None:
            _check_tensor(name, x, like=u)
    _check_reset(reset)
    spiking = _spiking(theta)
    if spiking and sg is None:
        raise ValueError("sg (surrogate derivative values) is required for a spiking layer (finite theta)")
    if not spiking and sg is not None:
        raise ValueError("sg must be None for a non-spiking layer (theta = inf)")
    return spiking


def _output(out: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
    """``out`` checked to be a contiguous tensor like ``u``, or a new one."""
    if out is None:
        return torch.empty_like(u)
    _check_tensor("out", out, like=u)
    if not out.is_contiguous():
        raise ValueError("out must be contiguous")
    return out


def _fwd_buffers(h: torch.Tensor, theta: float, reset: str):
    """Validated contiguous h and fresh (z, U) for a forward launch; returns (h, z, u, spiking)."""
    spiking = _check_fwd(h, theta, reset)
    h = h.contiguous()
    return h, torch.empty_like(h) if spiking else torch.zeros_like(h), torch.empty_like(h), spiking


def _bwd_buffers(grad_z, grad_u, u, sg, theta: float, reset: str, out):
    """Validated contiguous inputs and the output for a backward launch; absent inputs (None) become ``u``, a
    dummy that the kernels never read. Returns (grad_z, grad_u, u, sg, grad_h, has_gz, has_gu, spiking)."""
    spiking = _check_bwd(grad_z, grad_u, u, sg, theta, reset)
    u = u.contiguous()
    has_gz, has_gu = grad_z is not None, grad_u is not None
    grad_z, grad_u, sg = (u if x is None else x.contiguous() for x in (grad_z, grad_u, sg))
    return grad_z, grad_u, u, sg, _output(out, u), has_gz, has_gu, spiking


def lif_scan_fwd(
    h: torch.Tensor, alpha: float, beta: float, c: float, theta: float, reset: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward scan with the Triton kernel; returns (z, U), each [T, B, N] like ``h`` (module docstring)."""
    h, z, u, spiking = _fwd_buffers(h, theta, reset)
    check_launch(h, _lif_scan_fwd_kernel if triton else None, "lif_scan_forward/lif_scan_backward")
    T, B, N = h.shape
    if h.numel() > 0:
        with torch.cuda.device_of(h):  # launch on h's GPU, not the current one (no-op for CPU tensors)
            _lif_scan_fwd_kernel[(triton.cdiv(B * N, BLOCK),)](
                h, z, u, T, B * N, float(alpha), float(beta), float(c), float(theta),
                SPIKING=spiking, SUBTRACT=reset == "subtract", BLOCK=BLOCK,
                num_warps=NUM_WARPS, enable_fp_fusion=False,  # no FMA: bitwise equal to the eager reference
            )  # fmt: skip
    return z, u


def lif_scan_bwd(
    grad_z: torch.Tensor | None,
    grad_u: torch.Tensor | None,
    u: torch.Tensor,
    sg: torch.Tensor | None,
    alpha: float,
    beta: float,
    c: float,
    theta: float,
    reset: str = "zero",
    detach_reset: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Backward scan with the Triton kernel; returns ∂L/∂h [T, B, N], written into ``out`` if given (see
    :func:`lif_scan_backward`). See the module docstring."""
    grad_z, grad_u, u, sg, grad_h, has_gz, has_gu, spiking = _bwd_buffers(grad_z, grad_u, u, sg, theta, reset, out)
    check_launch(u, _lif_scan_fwd_kernel if triton else None, "lif_scan_forward/lif_scan_backward")
    T, B, N = u.shape
    if u.numel() > 0:
        with torch.cuda.device_of(u):
            _lif_scan_bwd_kernel[(triton.cdiv(B * N, BLOCK),)](
                grad_z, grad_u, u, sg, grad_h, T, B * N, float(alpha), float(beta), float(c), float(theta),
                HAS_GZ=has_gz, HAS_GU=has_gu, SPIKING=spiking,
                SUBTRACT=reset == "subtract", DETACH=bool(detach_reset), BLOCK=BLOCK,
                num_warps=NUM_WARPS, enable_fp_fusion=False,
            )  # fmt: skip
    return grad_h


def _rows(x: torch.Tensor):
    """The [T, B·N] NumPy view of a contiguous CPU tensor (shared memory)."""
    return x.detach().view(x.shape[0], -1).numpy()


def lif_scan_fwd_cpu(
    h: torch.Tensor, alpha: float, beta: float, c: float, theta: float, reset: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward scan with the Numba CPU kernel (:mod:`spikegrad.kernels.lif_scan_cpu`); returns (z, U)."""
    if h.device.type != "cpu" or lif_scan_cpu is None:
        raise ValueError("lif_scan_fwd_cpu needs a CPU tensor and numba installed")
    h, z, u, spiking = _fwd_buffers(h, theta, reset)
    if h.numel() > 0:
        lif_scan_cpu.scan_fwd(
            _rows(h), _rows(z), _rows(u), float(alpha), float(beta), float(c), float(theta), spiking,
            reset == "subtract",
        )  # fmt: skip
    return z, u


def lif_scan_bwd_cpu(
    grad_z: torch.Tensor | None,
    grad_u: torch.Tensor | None,
    u: torch.Tensor,
    sg: torch.Tensor | None,
    alpha: float,
    beta: float,
    c: float,
    theta: float,
    reset: str = "zero",
    detach_reset: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Backward scan with the Numba CPU kernel; returns ∂L/∂h, written into ``out`` if given (see
    :func:`lif_scan_backward`)."""
    if u.device.type != "cpu" or lif_scan_cpu is None:
        raise ValueError("lif_scan_bwd_cpu needs CPU tensors and numba installed")
    grad_z, grad_u, u, sg, grad_h, has_gz, has_gu, spiking = _bwd_buffers(grad_z, grad_u, u, sg, theta, reset, out)
    if u.numel() > 0:
        lif_scan_cpu.scan_bwd(
            *(_rows(x) for x in (grad_z, grad_u, u, sg, grad_h)), float(alpha), float(beta), float(c), float(theta),
            has_gz, has_gu, spiking, reset == "subtract", bool(detach_reset),
        )  # fmt: skip
    return grad_h


class ScanConstants(NamedTuple):
    """α, β, c, ϑ and the reset rule of one scan (module docstring); ``spiking`` is False for ϑ = ∞."""

    alpha: float
    beta: float
    c: float
    theta: float
    subtract: bool
    spiking: bool
    detach_reset: bool = True


def scan_constants(lif: LIFParams, spiking: bool = True, detach_reset: bool = True) -> ScanConstants:
    """The scan constants of a layer of ``lif`` neurons (α, β, c from :func:`spikegrad.model.decay_factors`)."""
    alpha, beta, c = decay_factors(lif)
    return ScanConstants(alpha, beta, c, lif.threshold, lif.reset == "subtract", spiking, detach_reset)


def lif_step_ref(h_t: torch.Tensor, v: torch.Tensor, i: torch.Tensor, k: ScanConstants):
    """One forward step: returns (z_t, U_t, V_t, I_t) from the input current h_t and the state (V, I)."""
    u, _, i = membrane_step(v, i, h_t, k.alpha, k.beta, k.c)
    if not k.spiking:
        return torch.zeros_like(u), u, u, i
    z = (u >= k.theta).to(u.dtype)
    return z, u, after_reset(u, z, k.theta, k.subtract), i


def lif_step_bwd_ref(g_z, g_u, u_t, sg_t, a_v, a_i, k: ScanConstants):
    """One reverse step: from ∂L/∂z_t and ∂L/∂U_t (None = 0) and the adjoints (a_V, a_I) after step t,
    returns (∂L/∂h_t, a_V, a_I) before it."""
    keep = a_v if k.subtract or not k.spiking else a_v * (1.0 - (u_t >= k.theta).to(u_t.dtype))  # a_V ∂V/∂U
    g_u = keep if g_u is None else g_u + keep
    if k.spiking:
        if not k.detach_reset:
            g_z = (0.0 if g_z is None else g_z) - a_v * (k.theta if k.subtract else u_t)
        if g_z is not None:
            g_u = g_u + g_z * sg_t
    g_i = g_u * k.c + a_i * k.beta
    return g_i, g_u * k.alpha, g_i


def _constants(alpha, beta, c, theta, reset, spiking, detach_reset=True) -> ScanConstants:
    return ScanConstants(alpha, beta, c, theta, reset == "subtract", spiking, detach_reset)


def lif_scan_fwd_ref(
    h: torch.Tensor, alpha: float, beta: float, c: float, theta: float, reset: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward scan in plain PyTorch, looping over T; returns (z, U). See the module docstring."""
    k = _constants(alpha, beta, c, theta, reset, _check_fwd(h, theta, reset))
    z = torch.zeros_like(h)
    u = torch.empty_like(h)
    v = i = torch.zeros_like(h[0])
    for t in range(h.shape[0]):
        z[t], u[t], v, i = lif_step_ref(h[t], v, i, k)
    return z, u


def lif_scan_bwd_ref(
    grad_z: torch.Tensor | None,
    grad_u: torch.Tensor | None,
    u: torch.Tensor,
    sg: torch.Tensor | None,
    alpha: float,
    beta: float,
    c: float,
    theta: float,
    reset: str = "zero",
    detach_reset: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Backward scan in plain PyTorch, looping over T in reverse; returns ∂L/∂h, written into ``out`` if given
    (see :func:`lif_scan_backward`). See the module docstring."""
    k = _constants(alpha, beta, c, theta, reset, _check_bwd(grad_z, grad_u, u, sg, theta, reset), detach_reset)
    grad_h = _output(out, u)
    a_v = a_i = torch.zeros_like(u[0])
    for t in reversed(range(u.shape[0])):
        grad_h[t], a_v, a_i = lif_step_bwd_ref(
            None if grad_z is None else grad_z[t],
            None if grad_u is None else grad_u[t],
            u[t],
            None if sg is None else sg[t],
            a_v,
            a_i,
            k,
        )
    return grad_h


def lif_scan_forward(
    h: torch.Tensor, alpha: float, beta: float, c: float, theta: float, reset: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, U) from the Triton kernel for a CUDA tensor when triton is installed, from the Numba kernel for a CPU
    tensor when numba is installed, else from the reference."""
    if triton is not None and h.is_cuda:
        return lif_scan_fwd(h, alpha, beta, c, theta, reset)
    if lif_scan_cpu is not None and h.device.type == "cpu":
        return lif_scan_fwd_cpu(h, alpha, beta, c, theta, reset)
    return lif_scan_fwd_ref(h, alpha, beta, c, theta, reset)


def lif_scan_backward(
    grad_z: torch.Tensor | None,
    grad_u: torch.Tensor | None,
    u: torch.Tensor,
    sg: torch.Tensor | None,
    alpha: float,
    beta: float,
    c: float,
    theta: float,
    reset: str = "zero",
    detach_reset: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """∂L/∂h from the Triton kernel for a CUDA tensor when triton is installed, from the Numba kernel for a CPU
    tensor when numba is installed, else from the reference.

    ``out`` (a contiguous tensor like ``u``) receives the result instead of a new tensor; it may be ``grad_u``
    itself, since each step reads its inputs before writing its output (the sparse engine scans in place)."""
    if triton is not None and u.is_cuda:
        return lif_scan_bwd(grad_z, grad_u, u, sg, alpha, beta, c, theta, reset, detach_reset, out)
    if lif_scan_cpu is not None and u.device.type == "cpu":
        return lif_scan_bwd_cpu(grad_z, grad_u, u, sg, alpha, beta, c, theta, reset, detach_reset, out)
    return lif_scan_bwd_ref(grad_z, grad_u, u, sg, alpha, beta, c, theta, reset, detach_reset, out)
