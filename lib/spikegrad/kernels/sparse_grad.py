r"""The kernels of the sparse surrogate-gradient engine (:mod:`spikegrad.engines.sparse`): the two products of its
backward pass that touch only non-zero entries, the whole-layer backward pass and the active-set selection. Rows
r = (t, b) flatten the time and batch axes: δ [R, N] is ∂L/∂h of a layer, x [R, N_in] its presynaptic spikes and
W [N, N_in] its weights.

- **Weight gradient** over the non-zero inputs only:

  .. math:: \nabla W_{ji} = \sum_r \delta_{rj}\, x_{ri} = \sum_{r:\ x_{ri} \neq 0} \delta_{rj}\, x_{ri}

  cost nnz(x)·N multiply-adds instead of R·N·N_in (binary spikes at a few per cent make this 20–100× fewer).
- **Input gradient** sampled at a set A of (r, i) entries (the upstream layer's active set, the only entries
  its truncated surrogate lets through):

  .. math:: g_a = \sum_j \delta_{r_a j}\, W_{j i_a}, \qquad a = (r_a, i_a) \in A

  cost |A|·N instead of R·N·N_in (a sampled dense-dense product, SDDMM).

Each op has a Triton kernel and launcher (``weight_grad``, ``input_grad``: CUDA tensors, or CPU tensors under
``TRITON_INTERPRET=1``), a vectorised PyTorch reference with the same signature (``weight_grad_ref``: sparse
COO × dense; ``input_grad_ref``: ``torch.sparse.sampled_addmm``) and a dispatch (``weight_grad_sparse``,
``input_grad_sparse``) that picks the kernel for CUDA tensors when triton is installed.

Kernels. ``_weight_grad_kernel``: one program per (input i, block of BLOCK_J outputs) walks the non-zeros of
column i (CSC order, ``BLOCK_K`` at a time), gathers the δ rows they name and reduces them; no atomics, so the
result is deterministic. ``_input_grad_kernel``: one program per BLOCK_A entries of A accumulates
Σ_j δ[r_a, j]·W[j, i_a] over blocks of BLOCK_J outputs. Both are bound by the gathers: bytes moved ≈
s·nnz(x)·N (weight) and 2s·|A|·N (input) for s bytes per element, with 2 flops per gathered element pair
(nnz(x)·N and 2|A|·N flops). On the paper's SHD layer 2 (:mod:`spikegrad.bench.sparse` at batch 256, T = 500,
N = 1000 inputs and outputs, 0.7 % input spikes and 2.4 % active, float32): weight gradient 3.6 GB of gathers,
1.1 ms at an H100's 3.35 TB/s (0.75 ms on an H200), input gradient 24 GB, 7 ms (5 ms), mostly served by L2
(δ and W rows of 4 KB are re-read); flops/peak 0.01 / 0.09 ms. Measured fraction: not measured yet (no GPU lent).

**Whole-layer backward** (``layer_backward``: the sparse engine's backward pass of one layer, from ∂L/∂z and
the events its forward pass kept, to ∂L/∂x, ∇W and ∇W_rec; equations in :mod:`spikegrad.engines.sparse`).
Events are row-compressed (:class:`RowEvents`, CSR over rows r = t·B + b). The reference
``layer_backward_ref`` scans δ [T, B, N] densely (:func:`spikegrad.kernels.lif_scan.lif_scan_backward`; for
recurrent layers a per-step loop, ``recurrent_delta``) and then forms the products above; the launcher
``layer_backward_cpu`` runs the Numba kernel of :mod:`spikegrad.kernels.sparse_cpu`, which walks each sample
backwards with the adjoint state of its N neurons and gathers what needs δ_t at once, never materialising δ.
The dispatch picks the Numba kernel for CPU tensors when numba is installed, else the reference (on CUDA with
the Triton kernels above and the Triton LIF scan). ∂L/∂z may come dense or as a sparse COO tensor (what the next
sparse layer hands back); ∂L/∂x goes out as a sparse COO tensor on the upstream active set.

**Active set** (``select``: the sorted flat indices of |U − ϑ| < B_th, U − ϑ there and the spikes U ≥ ϑ as
:class:`RowEvents`): reference ``select_ref`` by torch.nonzero; launcher ``select_cpu``, two parallel passes over
the rows of U in :mod:`spikegrad.kernels.sparse_cpu` (count, then fill), identical output.
"""

import math
from typing import NamedTuple

import torch

from spikegrad.kernels.launch import check_launch
from spikegrad.kernels.lif_scan import ScanConstants, lif_scan_backward
from spikegrad.kernels.spike_linear import quiet_csr, spike_rows

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the references still work
    triton = None

try:
    from spikegrad.kernels import sparse_cpu
except ImportError:  # numba not installed: the reference still works
    sparse_cpu = None

BLOCK_J = 32  # outputs per program (both kernels)
BLOCK_K = 32  # non-zero inputs gathered at once (weight gradient)
BLOCK_A = 64  # sampled entries per program (input gradient)
GRAD_CHUNKS = 4  # Numba backward: chunks of samples (parallel tasks), each with its own gradient accumulators
DENSE_ABOVE = 0.25  # reference: use the dense product δᵀx when more than this fraction of x is non-zero

if triton is not None:
    # `while` loops: the Triton 3.6 interpreter cannot take range() of a runtime integer under NumPy >= 2.4
    # (triton-lang/triton#9171); compiled, they run like a `for` loop.
    @triton.jit
    def _weight_grad_kernel(
        delta_ptr, col_ptr, row_ptr, val_ptr, out_ptr, N,
        BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr,
    ):  # fmt: skip
        i = tl.program_id(0)
        j = tl.program_id(1) * BLOCK_J + tl.arange(0, BLOCK_J)
        j_mask = j < N
        start = tl.load(col_ptr + i)
        end = tl.load(col_ptr + i + 1)
        acc = tl.zeros([BLOCK_J], delta_ptr.dtype.element_ty)
        k = start
        while k < end:
            offs = k + tl.arange(0, BLOCK_K)
            k_mask = offs < end
            rows = tl.load(row_ptr + offs, mask=k_mask, other=0)
            vals = tl.load(val_ptr + offs, mask=k_mask, other=0.0)
            tile = tl.load(
                delta_ptr + rows[:, None] * N + j[None, :], mask=k_mask[:, None] & j_mask[None, :], other=0.0
            )
            acc += tl.sum(tile * vals[:, None], axis=0)
            k += BLOCK_K
        tl.store(out_ptr + j.to(tl.int64) * tl.num_programs(0) + i, acc, mask=j_mask)

    @triton.jit
    def _input_grad_kernel(
        delta_ptr, w_ptr, rows_ptr, cols_ptr, out_ptr, A, N, N_IN,
        BLOCK_A: tl.constexpr, BLOCK_J: tl.constexpr,
    ):  # fmt: skip
        a = tl.program_id(0).to(tl.int64) * BLOCK_A + tl.arange(0, BLOCK_A)
        a_mask = a < A
        rows = tl.load(rows_ptr + a, mask=a_mask, other=0)
        cols = tl.load(cols_ptr + a, mask=a_mask, other=0)
        acc = tl.zeros([BLOCK_A], delta_ptr.dtype.element_ty)
        j0 = 0
        while j0 < N:
            j = j0 + tl.arange(0, BLOCK_J)
            mask = a_mask[:, None] & (j < N)[None, :]
            d = tl.load(delta_ptr + rows[:, None] * N + j[None, :], mask=mask, other=0.0)
            w = tl.load(w_ptr + j[None, :].to(tl.int64) * N_IN + cols[:, None], mask=mask, other=0.0)
            acc += tl.sum(d * w, axis=1)
            j0 += BLOCK_J
        tl.store(out_ptr + a, acc, mask=a_mask)


def _check(delta: torch.Tensor, other: torch.Tensor, name: str) -> None:
    """δ [R, N] and ``other`` are 2-D float32/float64 tensors of one dtype and device."""
    for label, t in (("delta", delta), (name, other)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{label} must be a 2-D float32/float64 tensor, got {getattr(t, 'shape', type(t))}")
    if other.dtype != delta.dtype or other.device != delta.device:
        raise ValueError(f"{name} must match delta's dtype and device: {other.dtype}/{other.device} vs "
                         f"{delta.dtype}/{delta.device}")  # fmt: skip


def _check_weight_grad(delta: torch.Tensor, x: torch.Tensor) -> None:
    _check(delta, x, "x")
    if x.shape[0] != delta.shape[0]:
        raise ValueError(f"x [R, N_in] and delta [R, N] need the same rows, got {tuple(x.shape)}, {tuple(delta.shape)}")


def _check_input_grad(delta: torch.Tensor, weight: torch.Tensor, index: torch.Tensor) -> None:
    _check(delta, weight, "weight")
    if weight.shape[0] != delta.shape[1]:
        raise ValueError(f"weight [N, N_in] must have N = {delta.shape[1]} rows, got {tuple(weight.shape)}")
    if index.dtype != torch.int64 or index.dim() != 1:
        raise ValueError(f"index must be a 1-D int64 tensor of flat [R, N_in] positions, got {index.dtype}")


def weight_grad(delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∇W = δᵀx [N, N_in] with the Triton kernel, summing over the non-zeros of x only (module docstring)."""
    _check_weight_grad(delta, x)
    check_launch(delta, _weight_grad_kernel if triton else None, "weight_grad_ref")
    delta = delta.contiguous()
    n_in, n = x.shape[1], delta.shape[1]
    cols, rows = x.t().nonzero(as_tuple=True)  # CSC order: by input i, then row
    vals = x[rows, cols].contiguous()
    col_ptr = torch.zeros(n_in + 1, dtype=torch.int64, device=x.device)
    col_ptr[1:] = torch.bincount(cols, minlength=n_in).cumsum(0)
    out = torch.empty(n, n_in, dtype=delta.dtype, device=delta.device)
    if out.numel() > 0:
        with torch.cuda.device_of(delta):
            _weight_grad_kernel[(n_in, triton.cdiv(n, BLOCK_J))](
                delta, col_ptr, rows.contiguous(), vals, out, n, BLOCK_J=BLOCK_J, BLOCK_K=BLOCK_K
            )
    return out


def weight_grad_ref(delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∇W = δᵀx [N, N_in] as sparse(xᵀ) @ δ, touching the non-zeros of x only (module docstring)."""
    _check_weight_grad(delta, x)
    index = x.nonzero().t()
    xs = torch.sparse_coo_tensor(index, x[index[0], index[1]], x.shape, is_coalesced=True, check_invariants=False)
    return torch.sparse.mm(xs.t(), delta).t()


def input_grad(delta: torch.Tensor, weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """g_a = Σ_j δ[r_a, j] W[j, i_a] at the flat positions ``index`` = r_a·N_in + i_a of [R, N_in] (module
    docstring), with the Triton kernel."""
    _check_input_grad(delta, weight, index)
    check_launch(delta, _input_grad_kernel if triton else None, "input_grad_ref")
    delta, weight = delta.contiguous(), weight.contiguous()
    n, n_in = weight.shape
    rows, cols = (index // n_in).contiguous(), (index % n_in).contiguous()
    out = torch.empty(len(index), dtype=delta.dtype, device=delta.device)
    if len(index) > 0:
        with torch.cuda.device_of(delta):
            _input_grad_kernel[(triton.cdiv(len(index), BLOCK_A),)](
                delta, weight, rows, cols, out, len(index), n, n_in, BLOCK_A=BLOCK_A, BLOCK_J=BLOCK_J
            )
    return out


def input_grad_ref(delta: torch.Tensor, weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """g_a at the sorted flat positions ``index`` of [R, N_in] (module docstring), by
    ``torch.sparse.sampled_addmm`` on the CSR pattern of ``index``."""
    _check_input_grad(delta, weight, index)
    n_rows, n_in = delta.shape[0], weight.shape[1]
    if len(index) == 0:
        return delta.new_zeros(0)
    if len(index) > 1 and not bool((index[1:] > index[:-1]).all()):
        raise ValueError("index must be sorted and free of repeats (as torch.nonzero returns it)")
    rows = index // n_in
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=index.device)
    crow[1:] = torch.bincount(rows, minlength=n_rows).cumsum(0)
    with quiet_csr():
        ones = delta.new_ones(len(index))
        pattern = torch.sparse_csr_tensor(crow, index % n_in, ones, (n_rows, n_in), check_invariants=False)
    return torch.sparse.sampled_addmm(pattern, delta, weight, beta=0.0).values()


def weight_grad_sparse(delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∇W from the Triton kernel for CUDA tensors when triton is installed, else from the reference."""
    if triton is not None and delta.is_cuda:
        return weight_grad(delta, x)
    return weight_grad_ref(delta, x)


def input_grad_sparse(delta: torch.Tensor, weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """g_a from the Triton kernel for CUDA tensors when triton is installed, else from the reference."""
    if triton is not None and delta.is_cuda:
        return input_grad(delta, weight, index)
    return input_grad_ref(delta, weight, index)


class RowEvents(NamedTuple):
    """The non-zeros of a matrix [R, M] row by row (CSR): row r holds columns ``col[ptr[r]:ptr[r + 1]]`` with
    values ``val``."""

    ptr: torch.Tensor  # [R + 1] int64
    col: torch.Tensor  # [nnz] int64
    val: torch.Tensor  # [nnz]
    n_cols: int  # M

    def dense(self) -> torch.Tensor:
        """The matrix [R, M]."""
        with quiet_csr():
            shape = (len(self.ptr) - 1, self.n_cols)
            return torch.sparse_csr_tensor(self.ptr, self.col, self.val, shape, check_invariants=False).to_dense()


def row_events(csr: torch.Tensor) -> RowEvents:
    """:class:`RowEvents` of a sparse CSR tensor [R, M]."""
    return RowEvents(csr.crow_indices(), csr.col_indices(), csr.values(), csr.shape[1])


def _check_select(u: torch.Tensor) -> None:
    if u.dim() != 2 or u.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"u must be a 2-D float32/float64 tensor [R, N], got {u.dtype} {tuple(u.shape)}")


def select_ref(
    u: torch.Tensor, theta: float, band: float, spikes: bool
) -> tuple[torch.Tensor, torch.Tensor, RowEvents | None]:
    """(sorted flat index of the active set |U − ϑ| < B_th of U [R, N], U − ϑ at it, and for ``spikes`` the spikes
    U ≥ ϑ as :class:`RowEvents`; else None), with torch.nonzero."""
    _check_select(u)
    v = (u - theta).flatten()
    index = (v.abs() < band).nonzero().squeeze(1)
    return index, v[index], row_events(spike_rows((u >= theta).to(u.dtype))) if spikes else None


def select_cpu(
    u: torch.Tensor, theta: float, band: float, spikes: bool
) -> tuple[torch.Tensor, torch.Tensor, RowEvents | None]:
    """:func:`select_ref` with the Numba kernels (:func:`~spikegrad.kernels.sparse_cpu.select_count`, then
    :func:`~spikegrad.kernels.sparse_cpu.select_fill` into outputs of the counted sizes): CPU tensors."""
    if u.device.type != "cpu" or sparse_cpu is None:
        raise ValueError("select_cpu needs a CPU tensor and numba installed")
    _check_select(u)
    u_np = u.detach().contiguous().numpy()
    ptrs = torch.zeros(2, u.shape[0] + 1, dtype=torch.int64)
    sparse_cpu.select_count(u_np, theta, band, ptrs.numpy())
    n_active, n_spikes = ptrs[:, -1].tolist()
    index, value = torch.empty(n_active, dtype=torch.int64), u.new_empty(n_active)
    col = torch.empty(n_spikes if spikes else 0, dtype=torch.int64)
    sparse_cpu.select_fill(u_np, theta, band, ptrs.numpy(), index.numpy(), value.numpy(), col.numpy())
    return index, value, RowEvents(ptrs[1], col, u.new_ones(n_spikes), u.shape[1]) if spikes else None


def select(
    u: torch.Tensor, theta: float, band: float, spikes: bool
) -> tuple[torch.Tensor, torch.Tensor, RowEvents | None]:
    """:func:`select_ref`'s result from the Numba kernel for CPU tensors when numba is installed, else from the
    reference."""
    if sparse_cpu is not None and u.device.type == "cpu":
        return select_cpu(u, theta, band, spikes)
    return select_ref(u, theta, band, spikes)


def weight_product(delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """δᵀx [N, N_in] for δ [R, N], x [R, N_in]: over the non-zeros of x, or dense when x is mostly non-zero."""
    if torch.count_nonzero(x) > DENSE_ABOVE * x.numel():
        return delta.T @ x
    return weight_grad_sparse(delta, x)


def recurrent_delta(
    grad_z: torch.Tensor, index: torch.Tensor, sg: torch.Tensor, w_rec: torch.Tensor, k: ScanConstants
) -> torch.Tensor:
    """δ [T, B, N] of a recurrent layer, step by step: the reverse scan with
    e_t = σ'_A ⊙ (∂L/∂z_t + δ_{t+1} W_rec) evaluated on A_t only."""
    T, B, N = grad_z.shape
    step = B * N
    starts = torch.searchsorted(index, torch.arange(T + 1, device=index.device) * step).tolist()
    delta = torch.empty_like(grad_z)
    a_v = a_i = torch.zeros(B, N, dtype=grad_z.dtype, device=grad_z.device)
    for t in reversed(range(T)):
        g_u = a_v.clone()
        lo, hi = starts[t], starts[t + 1]
        if hi > lo:
            local = index[lo:hi] - t * step
            g = grad_z[t].flatten()[local]
            if t + 1 < T:
                g = g + input_grad_sparse(delta[t + 1], w_rec, local)
            g_u.view(-1).index_add_(0, local, g * sg[lo:hi])
        delta[t] = k.c * g_u + k.beta * a_i
        a_v, a_i = k.alpha * g_u, delta[t]
    return delta


def _check_layer(grad_z, index, sg, x: RowEvents, weight, upstream, w_rec, spikes: RowEvents | None) -> None:
    """Shapes, dtypes and devices of a layer backward's arguments (``layer_backward``)."""
    if grad_z.dim() != 3 or grad_z.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"grad_z must be a float32/float64 tensor [T, B, N], got {grad_z.dtype} {tuple(grad_z.shape)}")
    T, B, N = grad_z.shape
    if (w_rec is None) != (spikes is None):
        raise ValueError("a recurrent layer needs both w_rec and its spikes; a feed-forward layer neither")
    for name, t, shape in (("weight", weight, (N, x.n_cols)), ("w_rec", w_rec, (N, N))):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} must be {list(shape)}, got {tuple(t.shape)}")
    floats = [sg, x.val, weight] + ([] if w_rec is None else [w_rec, spikes.val])
    ints = [index, x.ptr, x.col] + ([] if upstream is None else [upstream])
    ints += [] if w_rec is None else [spikes.ptr, spikes.col]
    if any(t.dtype != grad_z.dtype or t.device != grad_z.device for t in floats):
        raise ValueError(f"sg, weights and event values must match grad_z's dtype and device ({grad_z.dtype})")
    if any(t.dtype != torch.int64 or t.device != grad_z.device or t.dim() != 1 for t in ints):
        raise ValueError("indices and row pointers must be 1-D int64 tensors on grad_z's device")
    if len(index) != len(sg) or len(x.ptr) != T * B + 1 or (w_rec is not None and len(spikes.ptr) != T * B + 1):
        raise ValueError(f"need one σ' per active entry and T·B + 1 = {T * B + 1} row pointers per event list")


def _sampled(values: torch.Tensor, coords: torch.Tensor, shape) -> torch.Tensor:
    """The sparse COO tensor of ``shape`` with ``values`` at the sorted, distinct ``coords`` [3, nnz]."""
    return torch.sparse_coo_tensor(coords, values, shape, is_coalesced=True, check_invariants=False)


def layer_backward_ref(
    grad_z: torch.Tensor,
    index: torch.Tensor,
    sg: torch.Tensor,
    x: RowEvents,
    weight: torch.Tensor,
    upstream: torch.Tensor | None,
    w_rec: torch.Tensor | None,
    spikes: RowEvents | None,
    k: ScanConstants,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(∂L/∂x [T, B, N_in], ∇W [N, N_in], ∇W_rec [N, N]) of a sparse layer, each None unless ``needs`` it.

    Inputs: ∂L/∂z [T, B, N] (dense, or sparse COO), the sorted flat active index A into [T, B, N] with σ'_A at it,
    the inputs x and (recurrent) the layer's spikes z as :class:`RowEvents` over rows t·B + b. ∂L/∂x is sampled on
    the sorted flat ``upstream`` index into [T, B, N_in], as a coalesced sparse COO tensor (zero elsewhere), or
    dense for ``upstream`` None. Reference: dense δ [T, B, N] and the products of this module."""
    _check_layer(grad_z, index, sg, x, weight, upstream, w_rec, spikes)
    T, B, N = grad_z.shape
    rows, n_in = T * B, weight.shape[1]
    grad_z = grad_z.to_dense() if grad_z.is_sparse else grad_z
    if w_rec is None:
        delta = grad_z.new_zeros(T * B * N)
        delta[index] = grad_z.reshape(-1)[index] * sg  # e, overwritten by δ in place
        delta = delta.view(T, B, N)
        lif_scan_backward(None, delta, delta, None, k.alpha, k.beta, k.c, math.inf, "subtract", out=delta)
    else:
        delta = recurrent_delta(grad_z, index, sg, w_rec, k)
    flat = delta.view(rows, N)
    grad_x = grad_w = grad_rec = None
    if needs[0] and upstream is None:
        grad_x = (flat @ weight).view(T, B, n_in)
    elif needs[0]:
        coords = torch.stack([upstream // (B * n_in), upstream // n_in % B, upstream % n_in])
        grad_x = _sampled(input_grad_sparse(flat, weight, upstream), coords, (T, B, n_in))
    if needs[1]:
        grad_w = weight_product(flat, x.dense())
    if needs[2]:
        grad_rec = weight_product(delta[1:].reshape(-1, N), spikes.dense()[:-B])
    return grad_x, grad_w, grad_rec


def layer_backward_cpu(
    grad_z: torch.Tensor,
    index: torch.Tensor,
    sg: torch.Tensor,
    x: RowEvents,
    weight: torch.Tensor,
    upstream: torch.Tensor | None,
    w_rec: torch.Tensor | None,
    spikes: RowEvents | None,
    k: ScanConstants,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """:func:`layer_backward_ref` with the Numba kernel (:mod:`spikegrad.kernels.sparse_cpu`): CPU tensors. The
    samples run in P = min(B, ``GRAD_CHUNKS``) chunks, each with its own weight-gradient accumulator, summed here;
    P does not depend on the thread count, so neither do the results. Outputs and work space are torch tensors
    (counted by the profiler)."""
    if grad_z.device.type != "cpu" or sparse_cpu is None:
        raise ValueError("layer_backward_cpu needs CPU tensors and numba installed")
    _check_layer(grad_z, index, sg, x, weight, upstream, w_rec, spikes)
    T, B, N = grad_z.shape
    n_in = weight.shape[1]
    need_x, need_w, need_rec = needs
    chunks = max(1, min(B, GRAD_CHUNKS))
    none = index[:0]
    up = none if upstream is None else upstream
    g_up = sg.new_zeros(T * B * n_in if upstream is None else len(up)) if need_x else sg[:0]
    up_coo = torch.empty(3, len(up) if need_x else 0, dtype=torch.int64)
    grad_w_t = sg.new_zeros((chunks, n_in, N) if need_w else (chunks, 0, 0))
    grad_rec_t = sg.new_zeros((chunks, N, N) if need_rec else (chunks, 0, 0))
    if grad_z.is_sparse:
        grad_z = grad_z.coalesce()
        t, b, j = grad_z.indices()
        g_idx, g_val, gz = (t * B + b) * N + j, grad_z.values(), sg[:0]
    else:
        g_idx, g_val, gz = none, sg[:0], grad_z.detach().contiguous().view(-1)
    z = spikes if w_rec is not None else RowEvents(x.ptr[:1], none, sg[:0], N)
    if any(needs):
        sparse_cpu.layer_bwd(
            gz.numpy(), g_idx.numpy(), g_val.numpy(), index.numpy(), sg.detach().contiguous().numpy(),
            x.ptr.numpy(), x.col.numpy(), x.val.contiguous().numpy(), weight.detach().T.contiguous().numpy(),
            up.numpy(), (w_rec.detach().T.contiguous() if w_rec is not None else sg.new_zeros(0, 0)).numpy(),
            z.ptr.numpy(), z.col.numpy(), z.val.contiguous().numpy(), g_up.numpy(), up_coo.numpy(),
            grad_w_t.numpy(), grad_rec_t.numpy(), torch.empty(3, T * B + 1, dtype=torch.int64).numpy(),
            sg.new_empty(len(index)).numpy(), T, B,
            float(k.alpha), float(k.beta), float(k.c), torch.finfo(grad_z.dtype).tiny,
            grad_z.is_sparse, need_x, upstream is None, need_w, w_rec is not None, need_rec,
        )  # fmt: skip
    grad_x = None
    if need_x:
        grad_x = g_up.view(T, B, n_in) if upstream is None else _sampled(g_up, up_coo, (T, B, n_in))
    return (
        grad_x,
        grad_w_t.sum(0).T if need_w else None,
        grad_rec_t.sum(0).T if need_rec else None,
    )


def layer_backward(
    grad_z: torch.Tensor,
    index: torch.Tensor,
    sg: torch.Tensor,
    x: RowEvents,
    weight: torch.Tensor,
    upstream: torch.Tensor | None,
    w_rec: torch.Tensor | None,
    spikes: RowEvents | None,
    k: ScanConstants,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """:func:`layer_backward_ref`'s result from the Numba kernel for CPU tensors when numba is installed, else from
    the reference (Triton kernels on CUDA)."""
    if sparse_cpu is not None and grad_z.device.type == "cpu":
        return layer_backward_cpu(grad_z, index, sg, x, weight, upstream, w_rec, spikes, k, needs)
    return layer_backward_ref(grad_z, index, sg, x, weight, upstream, w_rec, spikes, k, needs)
