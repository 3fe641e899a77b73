"""The Numba listing of a raster's non-zero entries (CSR of its rows) against torch.nonzero, in both row orders,
and the CSR that the event-driven projection builds from it against Tensor.to_sparse_csr."""

import numpy as np
import pytest
import torch

from spikegrad.kernels.nonzero_cpu import nonzero_rows
from spikegrad.kernels.spike_linear import spike_rows


def _raster(shape, dtype, seed=0):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = torch.where(x < 0.15, x - 0.07, 0.0).to(dtype)  # sparse, signed values
    x[:, 0] = 0.0  # an empty sample
    return x


@pytest.mark.parametrize("sample_major", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(9, 4, 13), (1, 1, 1), (3, 2, 70)])
def test_rows_equal_torch_nonzero_in_either_order(shape, dtype, sample_major):
    x = _raster(shape, dtype)
    ptr, col, val, step = nonzero_rows(x.numpy(), sample_major, np.int32, with_step=True)
    view = x.permute(1, 0, 2) if sample_major else x  # rows b·T + t, or t·B + b
    rows, cols = view.reshape(-1, shape[2]).nonzero(as_tuple=True)
    assert np.array_equal(col, cols.numpy()) and col.dtype == np.int32
    assert np.array_equal(val, view.reshape(-1, shape[2])[rows, cols].numpy())
    assert np.array_equal(np.diff(ptr), torch.bincount(rows, minlength=shape[0] * shape[1]).numpy())
    steps = rows % shape[0] if sample_major else rows // shape[1]
    assert np.array_equal(step, steps.numpy())


def test_spike_rows_is_the_csr_of_the_rows():
    x = _raster((11, 3, 17), torch.float32, seed=1)
    got, expected = spike_rows(x), x.reshape(-1, 17).to_sparse_csr()
    for a, b in ((got.crow_indices(), expected.crow_indices()), (got.col_indices(), expected.col_indices()),
                 (got.values(), expected.values())):  # fmt: skip
        assert torch.equal(a, b)
    assert got.shape == expected.shape
