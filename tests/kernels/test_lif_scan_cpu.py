"""The Numba CPU kernels of the LIF scan against the PyTorch references: bit for bit, for every reset rule,
spiking and non-spiking layers, absent gradients, in-place output and ragged block sizes."""

import math

import pytest
import torch

from spikegrad.kernels import lif_scan as ls
from spikegrad.kernels.lif_scan_cpu import BLOCK

ALPHA, BETA, C, THETA = 0.9, 0.8, 0.3, 1.1  # distinct values, so a swapped symbol changes results
SHAPES = [(9, 3, 37), (6, 2, BLOCK + 7)]  # B·N < BLOCK, and two blocks with a partial second one


def _randn(shape, dtype, seed, scale=1.0, shift=0.0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale + shift


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("theta", [THETA, math.inf])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_equals_reference_bitwise(shape, theta, reset, dtype):
    h = _randn(shape, dtype, 0, 0.8, 0.2)
    z, u = ls.lif_scan_fwd_cpu(h, ALPHA, BETA, C, theta, reset)
    z_ref, u_ref = ls.lif_scan_fwd_ref(h, ALPHA, BETA, C, theta, reset)
    assert torch.equal(u, u_ref) and torch.equal(z, z_ref)
    assert (not z.any()) if theta == math.inf else 0.02 < z.mean().item() < 0.5


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("has_gz", [True, False])
@pytest.mark.parametrize("has_gu", [True, False])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backward_equals_reference_bitwise(shape, has_gz, has_gu, detach_reset, reset, dtype):
    _, u = ls.lif_scan_fwd_ref(_randn(shape, dtype, 0, 0.8, 0.2), ALPHA, BETA, C, THETA, reset)
    grad_z = _randn(shape, dtype, 1) if has_gz else None
    grad_u = _randn(shape, dtype, 2) if has_gu else None
    sg = torch.rand(shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    args = (grad_z, grad_u, u, sg, ALPHA, BETA, C, THETA, reset, detach_reset)
    expected = ls.lif_scan_bwd_ref(*args)
    assert torch.equal(ls.lif_scan_bwd_cpu(*args), expected)
    assert expected.abs().sum() > 0 or not (has_gz or has_gu)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_spiking_backward_and_in_place_output(dtype):
    shape = SHAPES[1]
    _, u = ls.lif_scan_fwd_ref(_randn(shape, dtype, 0), ALPHA, BETA, C, math.inf)
    grad_u = _randn(shape, dtype, 2)
    expected = ls.lif_scan_bwd_ref(None, grad_u, u, None, ALPHA, BETA, C, math.inf)
    out = ls.lif_scan_bwd_cpu(None, grad_u, u, None, ALPHA, BETA, C, math.inf, out=grad_u)
    assert out is grad_u and torch.equal(out, expected)


def test_dispatch_uses_the_cpu_kernel(monkeypatch):
    calls = []
    kernel = ls.lif_scan_cpu.scan_fwd
    monkeypatch.setattr(ls.lif_scan_cpu, "scan_fwd", lambda *a: calls.append(1) or kernel(*a))
    h = _randn((4, 2, 3), torch.float64, 0)
    z, u = ls.lif_scan_forward(h, ALPHA, BETA, C, THETA)
    assert calls and torch.equal(u, ls.lif_scan_fwd_ref(h, ALPHA, BETA, C, THETA)[1])


def test_bad_input_is_rejected_before_the_kernel():
    with pytest.raises(ValueError, match="float32 or float64"):
        ls.lif_scan_fwd_cpu(torch.zeros(2, 2, 2, dtype=torch.int64), ALPHA, BETA, C, THETA)
    with pytest.raises(ValueError, match="sg"):
        ls.lif_scan_bwd_cpu(None, torch.zeros(2, 2, 2), torch.zeros(2, 2, 2), None, ALPHA, BETA, C, THETA)
