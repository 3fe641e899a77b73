r"""Event-driven input projection h = x Wᵀ for sparse spike inputs x [..., n_in] (most entries zero).

Only the non-zero inputs contribute: with x in compressed-sparse-row form (rows = all leading indices),

.. math::

    h_r = \sum_{i:\,x_{ri} \neq 0} x_{ri} W_{:, i}, \qquad
    \frac{\partial L}{\partial W} = \Big(\sum_{r:\,x_{ri} \neq 0} x_{ri} \frac{\partial L}{\partial h_r}\Big)_i
    = \big(x^\top \tfrac{\partial L}{\partial h}\big)^\top \text{ with } x \text{ sparse},

so both products cost nnz(x)·N instead of R·n_in·N multiply-adds (R rows). ∂L/∂x, when x requires a gradient,
is the dense (∂L/∂h) W. The sums run in a different order from a dense matrix product, so results agree with
``x @ W.T`` to rounding, not bit for bit.

:func:`spike_linear` takes this path on the CPU when the input's density is at most ``max_density`` (beyond
that, and on GPUs, whose dense matrix units win at SNN densities, it is ``x @ W.T``). The CSR form itself,
:func:`spike_rows`, comes from two parallel passes over x on the CPU (:mod:`spikegrad.kernels.nonzero_cpu`;
``Tensor.to_sparse_csr`` elsewhere, the same matrix).
"""

import warnings
from contextlib import contextmanager

import numpy as np
import torch

try:
    from spikegrad.kernels import nonzero_cpu
except ImportError:  # numba not installed: torch builds the CSR
    nonzero_cpu = None

MAX_DENSITY = 0.2  # above this fraction of non-zeros the dense product is faster on the CPU (measured, n = 2048)


@contextmanager
def quiet_csr():
    """Silences "sparse CSR support is in beta": the operations used here are stable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


class SpikeLinear(torch.autograd.Function):
    """h [R, N] = x [R, n_in] Wᵀ through CSR(x) (module docstring)."""

    @staticmethod
    def forward(ctx, x_csr, x, weight):  # x (dense) only tells autograd whether ∂L/∂x is needed
        ctx.save_for_backward(x_csr, weight)  # the non-zeros only: nnz·(value + column index) + row pointers
        return x_csr @ weight.T

    @staticmethod
    def backward(ctx, grad_h):
        x_csr, weight = ctx.saved_tensors
        grad_x = grad_h @ weight if ctx.needs_input_grad[1] else None
        # CSR(x)ᵀ (a CSC view) @ ∂L/∂h: faster on the CPU than CSR(xᵀ), COO(x)ᵀ or the dense product at 5 % density
        # (measured, n = 2048)
        with quiet_csr():
            grad_w = (x_csr.t() @ grad_h).T if ctx.needs_input_grad[2] else None
        return None, grad_x, grad_w


def spike_rows(x: torch.Tensor) -> torch.Tensor:
    """x [..., n_in] (no gradient) as a sparse CSR matrix [R, n_in] whose rows are all leading indices."""
    rows = x.detach().reshape(-1, x.shape[-1])
    if rows.device.type == "cpu" and nonzero_cpu is not None and rows.dtype in (torch.float32, torch.float64):
        ptr, col, val, _ = nonzero_cpu.nonzero_rows(rows.contiguous().numpy()[None], False, np.int64)
        with quiet_csr():
            return torch.sparse_csr_tensor(*(torch.from_numpy(a) for a in (ptr, col, val)), rows.shape)
    with quiet_csr():
        return rows.to_sparse_csr()


def spike_linear(
    x: torch.Tensor, weight: torch.Tensor, max_density: float = MAX_DENSITY, csr: torch.Tensor | None = None
) -> torch.Tensor:
    """h = x Wᵀ for x [..., n_in] and W [N, n_in]: event-driven on the CPU for inputs with at most
    ``max_density`` non-zeros, else the dense product. ``csr``: :func:`spike_rows` of x, if the caller has it."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"x has {x.shape[-1]} inputs per row but weight has {weight.shape[-1]} columns")
    if x.device.type != "cpu" or x.numel() == 0 or x.layout != torch.strided:
        return x @ weight.T
    x_csr = spike_rows(x) if csr is None else csr
    if x_csr.values().numel() > max_density * x.numel():
        return x @ weight.T
    rows = x.reshape(-1, x.shape[-1])
    return SpikeLinear.apply(x_csr, rows, weight).reshape(*x.shape[:-1], weight.shape[0])
