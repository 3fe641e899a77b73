r"""CPU kernels that list the non-zero entries of a raster x [T, B, N] row by row, compiled by Numba: the
compressed-sparse-row form of its T·B rows, in step-major order (rows t·B + b: the CSR of ``x.reshape(T·B, N)``)
or in sample-major order (rows b·T + t: per-sample event lists in step order).

Two passes, each parallel over the samples: :func:`row_counts` counts the non-zeros of every row; the caller
turns the counts into row pointers (an exclusive cumulative sum in the chosen order); :func:`row_fill` writes each
row's columns (ascending) and values, and optionally the step t of each entry, at its pointer. The result is the
same as ``torch.nonzero`` in that order, whatever the number of threads. Each pass reads x once (memory-bound).
"""

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def row_counts(x, counts):  # pragma: no cover (compiled)
    """counts[t, b] = the non-zero entries of x[t, b, :]."""
    steps, batch, n = x.shape
    for b in numba.prange(batch):
        for t in range(steps):
            row = x[t, b]
            k = 0
            for j in range(n):
                k += row[j] != 0
            counts[t, b] = k


@numba.njit(parallel=True, cache=True)
def row_fill(x, starts, col, val, step, with_step):  # pragma: no cover (compiled)
    """Columns and values of the non-zeros of row (t, b) at col/val[starts[t, b]:], and t at step[...] when
    ``with_step``."""
    steps, batch, n = x.shape
    for b in numba.prange(batch):
        for t in range(steps):
            row = x[t, b]
            k = starts[t, b]
            for j in range(n):
                if row[j] != 0:
                    col[k] = j
                    val[k] = row[j]
                    if with_step:
                        step[k] = t
                    k += 1


def nonzero_rows(x: np.ndarray, sample_major: bool, index_dtype, with_step: bool = False):
    """(row pointers [T·B + 1] int64 in the chosen order, columns [nnz] of ``index_dtype``, values [nnz], steps
    [nnz] int32 or None) of x [T, B, N] (module docstring)."""
    steps, batch, _ = x.shape
    counts = np.empty((steps, batch), np.int64)
    row_counts(x, counts)
    ordered = counts.T if sample_major else counts
    ptr = np.zeros(steps * batch + 1, np.int64)
    np.cumsum(ordered.ravel(), out=ptr[1:])
    starts = ptr[:-1].reshape(ordered.shape)
    starts = np.ascontiguousarray(starts.T if sample_major else starts)
    nnz = int(ptr[-1])
    col, val = np.empty(nnz, index_dtype), np.empty(nnz, x.dtype)
    step = np.empty(nnz if with_step else 0, np.int32)
    row_fill(x, starts, col, val, step, with_step)
    return ptr, col, val, step if with_step else None
