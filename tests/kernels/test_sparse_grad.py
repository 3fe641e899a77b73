"""sparse_grad: the Triton launchers and the PyTorch references against the dense products they replace, on ragged
sizes. Without CUDA the launchers run in the Triton interpreter (tests/conftest.py)."""

import pytest
import torch

from spikegrad.kernels.sparse_grad import (
    BLOCK_A,
    BLOCK_J,
    input_grad,
    input_grad_ref,
    input_grad_sparse,
    weight_grad,
    weight_grad_ref,
    weight_grad_sparse,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
SIZES = [(37, 5, 9), (3 * BLOCK_A + 7, BLOCK_J + 3, 11)]  # rows R, outputs N, inputs N_in: partial blocks
# (the second has more than 3·BLOCK_A sampled entries)


def _case(rows, n, n_in, dtype, seed=0, density=0.1):
    gen = torch.Generator().manual_seed(seed)
    delta = torch.randn(rows, n, generator=gen, dtype=torch.float64)
    x = (torch.rand(rows, n_in, generator=gen) < density).double() * torch.rand(rows, n_in, generator=gen)
    w = torch.randn(n, n_in, generator=gen, dtype=torch.float64)
    index = (torch.rand(rows * n_in, generator=gen) < density).nonzero().squeeze(1)
    return [t.to(DEVICE) for t in (delta.to(dtype), x.to(dtype), w.to(dtype))] + [index.to(DEVICE)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", [weight_grad, weight_grad_ref, weight_grad_sparse])
def test_weight_grad_equals_dense_product(op, size, dtype):
    delta, x, _, _ = _case(*size, dtype)
    assert 0 < torch.count_nonzero(x) < x.numel()
    torch.testing.assert_close(op(delta, x), delta.T @ x, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", [input_grad, input_grad_ref, input_grad_sparse])
def test_input_grad_equals_sampled_dense_product(op, size, dtype):
    delta, _, w, index = _case(*size, dtype)
    assert 0 < len(index) < delta.shape[0] * w.shape[1]
    expected = (delta @ w).flatten()[index]
    torch.testing.assert_close(op(delta, w, index), expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("op", [weight_grad, weight_grad_ref])
def test_weight_grad_of_all_zero_input_is_zero(op):
    delta, x, _, _ = _case(20, 4, 6, torch.float32)
    assert torch.equal(op(delta, torch.zeros_like(x)), torch.zeros(4, 6, device=DEVICE))


@pytest.mark.parametrize("op", [input_grad, input_grad_ref])
def test_input_grad_of_empty_index_is_empty(op):
    delta, _, w, index = _case(20, 4, 6, torch.float32)
    assert op(delta, w, index[:0]).shape == (0,)


def test_bad_arguments_raise_clear_errors():
    delta, x, w, index = _case(20, 4, 6, torch.float32)
    with pytest.raises(ValueError, match="same rows"):
        weight_grad_ref(delta, x[:-1])
    with pytest.raises(ValueError, match="dtype"):
        weight_grad_ref(delta, x.double())
    with pytest.raises(ValueError, match="N = 4 rows"):
        input_grad_ref(delta, w[:-1], index)
    with pytest.raises(ValueError, match="int64"):
        input_grad_ref(delta, w, index.int())
    with pytest.raises(ValueError, match="sorted"):
        input_grad_ref(delta, w, index.flip(0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_large_matches_dense_products(dtype):
    delta, x, w, index = _case(50 * 64, 400, 700, dtype, seed=3, density=0.02)  # an SHD-like layer: R = T·B rows
    torch.testing.assert_close(weight_grad(delta, x), delta.T @ x, rtol=1e-4 if dtype == torch.float32 else 1e-10,
                               atol=1e-3 if dtype == torch.float32 else 1e-10)  # fmt: skip
    expected = (delta @ w).flatten()[index]
    torch.testing.assert_close(input_grad(delta, w, index), expected, rtol=1e-4, atol=1e-4)
