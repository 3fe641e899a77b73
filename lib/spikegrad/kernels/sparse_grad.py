r"""The two products of the sparse surrogate-gradient backward pass (:mod:`spikegrad.engines.sparse`) that
touch only non-zero entries. Rows r = (t, b) flatten the time and batch axes: δ [R, N] is ∂L/∂h of a layer,
x [R, N_in] its presynaptic spikes and W [N, N_in] its weights.

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
"""

import warnings

import torch

from spikegrad.kernels.launch import check_launch

try:
    import triton
    import triton.language as tl
except ImportError:  # e.g. macOS: the references still work
    triton = None

BLOCK_J = 32  # outputs per program (both kernels)
BLOCK_K = 32  # non-zero inputs gathered at once (weight gradient)
BLOCK_A = 64  # sampled entries per program (input gradient)

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
    with warnings.catch_warnings():  # "CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
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
