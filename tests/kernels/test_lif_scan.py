"""lif_scan: Triton launchers against the PyTorch references, golden values, and the backward reference
against autograd. Without CUDA the launchers run in the Triton interpreter (see tests/conftest.py), so the
sizes stay small."""

import math

import pytest
import torch

from spikegrad.kernels.lif_scan import (
    BLOCK,
    lif_scan_backward,
    lif_scan_bwd,
    lif_scan_bwd_ref,
    lif_scan_forward,
    lif_scan_fwd,
    lif_scan_fwd_ref,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
ALPHA, BETA, C, THETA = 0.9, 0.8, 0.3, 1.1  # distinct values, so a swapped symbol changes results
SLOPE = 5.0  # fast-sigmoid sharpness of the surrogate used in these tests
RAGGED = [(7, 3, 37), (5, 3, BLOCK // 3 + 1)]  # B·N = 111 < BLOCK, and 2 programs with a partial second one


def _sg(u: torch.Tensor, theta: float) -> torch.Tensor | None:
    """Fast-sigmoid surrogate derivative σ'(U − ϑ) = 1 / (1 + SLOPE·|U − ϑ|)²; None when non-spiking."""
    return None if theta == math.inf else 1.0 / (1.0 + SLOPE * (u - theta).abs()) ** 2


def _randn(shape, dtype, seed, scale=1.0, shift=0.0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (x * scale + shift).to(dtype=dtype, device=DEVICE)


def _close(actual, expected, dtype):
    torch.testing.assert_close(actual, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("shape", RAGGED)
@pytest.mark.parametrize("theta", [THETA, math.inf])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_matches_reference(shape, theta, reset, dtype):
    h = _randn(shape, dtype, seed=0, scale=0.8, shift=0.2)
    z, u = lif_scan_fwd(h, ALPHA, BETA, C, theta, reset)
    z_ref, u_ref = lif_scan_fwd_ref(h, ALPHA, BETA, C, theta, reset)
    assert z.dtype == u.dtype == dtype and z.shape == u.shape == h.shape
    _close(u, u_ref, dtype)
    _close(z, z_ref, dtype)
    if theta == math.inf:
        assert not z.any()
    else:
        assert 0.02 < z.mean().item() < 0.5  # the comparison exercises both spikes and resets


@pytest.mark.parametrize("has_gz", [True, False])
@pytest.mark.parametrize("has_gu", [True, False])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("theta", [THETA, math.inf])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backward_matches_reference(has_gz, has_gu, detach_reset, theta, reset, dtype):
    shape = RAGGED[1]
    _, u = lif_scan_fwd_ref(_randn(shape, dtype, seed=1, scale=0.8, shift=0.2), ALPHA, BETA, C, theta, reset)
    grad_z = _randn(shape, dtype, seed=2) if has_gz else None
    grad_u = _randn(shape, dtype, seed=3) if has_gu else None
    args = (grad_z, grad_u, u, _sg(u, theta), ALPHA, BETA, C, theta, reset, detach_reset)
    grad_h = lif_scan_bwd(*args)
    assert grad_h.dtype == dtype and grad_h.shape == shape
    _close(grad_h, lif_scan_bwd_ref(*args), dtype)


@pytest.mark.parametrize("impl", [lif_scan_fwd, lif_scan_fwd_ref])
def test_forward_golden(impl):
    # α = 0.8, β = 0.5, c = 1, h = 1 at t = 0 only, ϑ = ∞ (no reset). I' = I + h, U = αV + cI', I = βI':
    #   t=0: I' = 1,     U = 0 + 1               = 1,     I = 0.5
    #   t=1: I' = 0.5,   U = 0.8·1 + 0.5         = 1.3,   I = 0.25
    #   t=2: I' = 0.25,  U = 0.8·1.3 + 0.25      = 1.29,  I = 0.125
    #   t=3: I' = 0.125, U = 0.8·1.29 + 0.125    = 1.157
    # With ϑ = 1.2 the neuron spikes at t=1 (U = 1.3 ≥ 1.2):
    #   reset to zero: V = 0,   U_2 = 0.25,             U_3 = 0.8·0.25 + 0.125 = 0.325
    #   subtract:      V = 0.1, U_2 = 0.08 + 0.25 = 0.33, U_3 = 0.8·0.33 + 0.125 = 0.389
    h = torch.zeros(4, 1, 1, dtype=torch.float64, device=DEVICE)
    h[0] = 1.0
    expected = {
        (math.inf, "zero"): [1.0, 1.3, 1.29, 1.157],
        (1.2, "zero"): [1.0, 1.3, 0.25, 0.325],
        (1.2, "subtract"): [1.0, 1.3, 0.33, 0.389],
    }
    for (theta, reset), u_expected in expected.items():
        z, u = impl(h, 0.8, 0.5, 1.0, theta, reset)
        _close(u.flatten(), torch.tensor(u_expected, dtype=torch.float64, device=DEVICE), torch.float64)
        z_expected = [0.0, 0.0, 0.0, 0.0] if theta == math.inf else [0.0, 1.0, 0.0, 0.0]
        _close(z.flatten(), torch.tensor(z_expected, dtype=torch.float64, device=DEVICE), torch.float64)


@pytest.mark.parametrize("impl", [lif_scan_bwd, lif_scan_bwd_ref])
def test_backward_golden(impl):
    # Same layer as test_forward_golden (ϑ = ∞), L = U_3: ∂L/∂h_t is the response of U_3 to a unit input at t,
    # i.e. the forward golden values read backwards: [1.157, 1.29, 1.3, 1].
    u = torch.zeros(4, 1, 1, dtype=torch.float64, device=DEVICE)
    grad_u = torch.zeros_like(u)
    grad_u[3] = 1.0
    grad_h = impl(None, grad_u, u, None, 0.8, 0.5, 1.0, math.inf)
    expected = torch.tensor([1.157, 1.29, 1.3, 1.0], dtype=torch.float64, device=DEVICE)
    _close(grad_h.flatten(), expected, torch.float64)


def _autograd_scan(h, grad_z, grad_u, theta, reset, detach_reset):
    """The forward in plain autograd with a straight-through fast-sigmoid spike; returns (U, ∂L/∂h) for
    L = Σ grad_z·z + Σ grad_u·U."""
    h = h.detach().requires_grad_(True)
    v = torch.zeros_like(h[0])
    i = torch.zeros_like(h[0])
    zs, us = [], []
    for t in range(h.shape[0]):
        i = i + h[t]
        u = ALPHA * v + C * i
        i = BETA * i
        if theta == math.inf:
            z = torch.zeros_like(u)
            v = u
        else:
            x = u - theta
            s = x / (1.0 + SLOPE * x.abs())  # ds/dx = 1 / (1 + SLOPE·|x|)²
            z = (x >= 0).to(h.dtype) + (s - s.detach())  # value Θ(x), gradient σ'(x)
            z_reset = z.detach() if detach_reset else z
            v = u * (1.0 - z_reset) if reset == "zero" else u - theta * z_reset
        zs.append(z)
        us.append(u)
    u = torch.stack(us)
    ((torch.stack(zs) * grad_z).sum() + (u * grad_u).sum()).backward()
    return u.detach(), h.grad


@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("theta", [THETA, math.inf])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_backward_reference_matches_autograd(detach_reset, theta, reset):
    shape, dtype = (12, 2, 16), torch.float64
    h = _randn(shape, dtype, seed=4, scale=0.8, shift=0.2)
    grad_z, grad_u = _randn(shape, dtype, seed=5), _randn(shape, dtype, seed=6)
    u_autograd, grad_h_autograd = _autograd_scan(h, grad_z, grad_u, theta, reset, detach_reset)
    z, u = lif_scan_fwd_ref(h, ALPHA, BETA, C, theta, reset)
    _close(u, u_autograd, dtype)
    if theta != math.inf:
        assert 0.02 < z.mean().item() < 0.5
    grad_h = lif_scan_bwd_ref(grad_z, grad_u, u, _sg(u, theta), ALPHA, BETA, C, theta, reset, detach_reset)
    _close(grad_h, grad_h_autograd, dtype)


@pytest.mark.parametrize("fwd", [lif_scan_fwd, lif_scan_fwd_ref])
def test_forward_rejects_bad_input(fwd):
    h = torch.zeros(3, 2, 4, device=DEVICE)
    with pytest.raises(ValueError, match=r"h must be 3-D \[T, B, N\], got shape \(3, 8\)"):
        fwd(h.reshape(3, 8), ALPHA, BETA, C, THETA)
    with pytest.raises(ValueError, match="h must be float32 or float64, got torch.float16"):
        fwd(h.half(), ALPHA, BETA, C, THETA)
    with pytest.raises(ValueError, match=r"reset must be one of \('zero', 'subtract'\), got 'soft'"):
        fwd(h, ALPHA, BETA, C, THETA, reset="soft")
    with pytest.raises(ValueError, match="theta must be finite or \\+inf"):
        fwd(h, ALPHA, BETA, C, math.nan)


@pytest.mark.parametrize("bwd", [lif_scan_bwd, lif_scan_bwd_ref])
def test_backward_rejects_bad_input(bwd):
    u = torch.zeros(3, 2, 4, device=DEVICE)
    with pytest.raises(ValueError, match="u must be 3-D"):
        bwd(None, None, u[0], None, ALPHA, BETA, C, math.inf)
    with pytest.raises(ValueError, match="u must be float32 or float64, got torch.int64"):
        bwd(None, None, u.long(), None, ALPHA, BETA, C, math.inf)
    with pytest.raises(ValueError, match="grad_u must match u"):
        bwd(None, u[:2], u, None, ALPHA, BETA, C, math.inf)
    with pytest.raises(ValueError, match="grad_z must match u"):
        bwd(u.double(), None, u, u, ALPHA, BETA, C, THETA)
    with pytest.raises(ValueError, match="reset must be one of"):
        bwd(None, u, u, u, ALPHA, BETA, C, THETA, reset="Zero")
    with pytest.raises(ValueError, match="sg .* is required for a spiking layer"):
        bwd(None, u, u, None, ALPHA, BETA, C, THETA)
    with pytest.raises(ValueError, match="sg must be None for a non-spiking layer"):
        bwd(None, u, u, u, ALPHA, BETA, C, math.inf)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_large_matches_reference(reset, dtype):
    shape, theta = (100, 16, 1000), THETA
    h = _randn(shape, dtype, seed=7, scale=0.8, shift=0.2)
    z, u = lif_scan_forward(h, ALPHA, BETA, C, theta, reset)  # dispatches to the kernel on CUDA
    z_ref, u_ref = lif_scan_fwd_ref(h, ALPHA, BETA, C, theta, reset)
    _close(u, u_ref, dtype)
    _close(z, z_ref, dtype)
    args = (_randn(shape, dtype, seed=8), _randn(shape, dtype, seed=9), u_ref, _sg(u_ref, theta))
    for detach_reset in (True, False):
        grad_h = lif_scan_backward(*args, ALPHA, BETA, C, theta, reset, detach_reset)
        _close(grad_h, lif_scan_bwd_ref(*args, ALPHA, BETA, C, theta, reset, detach_reset), dtype)


@pytest.mark.parametrize("bwd", [lif_scan_bwd, lif_scan_bwd_ref])
def test_backward_can_write_in_place_over_grad_u(bwd):
    shape = (9, 3, 37)
    grad_u = _randn(shape, torch.float64, seed=11)
    u = _randn(shape, torch.float64, seed=12)
    expected = bwd(None, grad_u, u, None, ALPHA, BETA, C, math.inf)
    out = grad_u.clone()
    assert bwd(None, out, u, None, ALPHA, BETA, C, math.inf, out=out) is out
    _close(out, expected, torch.float64)
    with pytest.raises(ValueError, match="out must match u"):
        bwd(None, grad_u, u, None, ALPHA, BETA, C, math.inf, out=out[:-1])
