"""event_sim: the closed forms (W₀ against SciPy, spike times against the dynamics) and the Triton kernel against
the PyTorch reference. Without CUDA the kernel runs in the Triton interpreter (see tests/conftest.py), which is
slow, so the streams stay short."""

import math

import pytest
import torch
from scipy.special import lambertw

from spikegrad.kernels.event_sim import (
    BLOCK_N,
    RATIOS,
    advance,
    event_sim,
    event_sim_forward,
    event_sim_ref,
    lambert_w0,
    next_spike,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
F64 = torch.float64
EPS = torch.finfo(F64).eps
THETA, T_MAX = 1.0, 20.0  # the streams run to 30 ms: t_max drops inputs and cuts spike trains
TAU_MEM = {2: 10.0, 1: 5.0}  # τ_m for τ_s = 5 ms
TOL = {torch.float32: 1e-4, torch.float64: 1e-12}


def _f64(*x):
    return torch.tensor(x, dtype=F64)


# --- Lambert W₀ ---------------------------------------------------------------------------------------------------


def test_lambert_w0_matches_scipy():
    d = torch.logspace(-15, -1, 43, dtype=F64)  # distance above the branch point −1/e
    z = torch.cat([torch.linspace(-1 / math.e, 10, 2001, dtype=F64)[1:], -1 / math.e + d, _f64(-0.25, 0, 1e-20)])
    w = lambert_w0(z)
    w_ref = torch.from_numpy(lambertw(z.numpy()).real)
    # W₀ is ill-conditioned at −1/e (dW/dz ∝ 1/(1 + W)): allow the error of rounding z, eps/|1 + W|, on top
    tol = 1e-12 + 4 * EPS / (1 + w_ref).abs()
    assert ((w - w_ref).abs() / w_ref.abs().clamp(min=1e-300) <= tol).all()
    assert ((w - w_ref).abs() <= 1e-12 * w_ref.abs())[z > -1 / math.e + 1e-6].all()
    assert ((w * torch.exp(w) - z).abs() <= 4 * EPS * z.abs()).all()  # backward stable everywhere


def test_lambert_w0_golden_and_domain():
    w = lambert_w0(_f64(-1 / math.e, 0.0, math.e, -1 / 3, -1 / math.e - 1e-9, -1.0))
    torch.testing.assert_close(w[:4], _f64(-1.0, 0.0, 1.0, -0.6190612867359451), rtol=1e-12, atol=1e-12)
    assert torch.isnan(w[4:]).all()  # below the branch point


# --- next_spike -----------------------------------------------------------------------------------------------------


def test_next_spike_golden():
    inf = _f64(math.inf)
    # τ_m = 2τ_s, V = 0, I = 5: s* = τ_m ln(2I / (I + √(I² − 4ϑI))) = 10 ln(10 / (5 + √5))
    torch.testing.assert_close(next_spike(_f64(0.0), _f64(5.0), inf, 10.0, 2, 1.0), _f64(3.235071311574467))
    # τ_m = τ_s, V = 0, I = 3: 3x e^{−x} = 1, x = −W₀(−1/3)
    torch.testing.assert_close(next_spike(_f64(0.0), _f64(3.0), inf, 5.0, 1, 1.0), _f64(5 * 0.6190612867359451))


def _voltage(v, i, s, tau_mem, ratio):
    """V after s [..., S] ms from the states (v, i) [...]."""
    return advance(v[..., None], i[..., None], s, tau_mem, ratio)[0]


@pytest.mark.parametrize("ratio", RATIOS)
def test_next_spike_is_first_crossing(ratio):
    tau = TAU_MEM[ratio]
    v, i = torch.meshgrid(
        torch.linspace(-0.5, 0.99, 31, dtype=F64), torch.linspace(0.05, 8.0, 41, dtype=F64), indexing="ij"
    )
    v, i = v.flatten(), i.flatten()
    s = next_spike(v, i, torch.full_like(v, math.inf), tau, ratio, THETA)
    fired = torch.isfinite(s)
    assert 0.2 < fired.float().mean() < 0.8  # both cases are exercised
    # a spike: V(s*) = ϑ, V < ϑ on a fine grid before s*, and rising at s*
    u = torch.linspace(0, 1, 2001, dtype=F64)[:-1]
    v_s, i_s = advance(v[fired], i[fired], s[fired], tau, ratio)
    torch.testing.assert_close(v_s, torch.full_like(v_s, THETA), rtol=0, atol=1e-12)
    assert (_voltage(v[fired], i[fired], s[fired, None] * u, tau, ratio) < THETA).all()
    assert (i_s > THETA).all()  # τ_m V̇ = I − ϑ > 0 at the crossing
    # no spike: V stays below ϑ for good (a grid over 20 τ_m)
    assert (_voltage(v[~fired], i[~fired], 20 * tau * u, tau, ratio) < THETA).all()
    # a gap shorter than s* hides the spike; one just longer keeps it
    s_f = s[fired]
    assert torch.isinf(next_spike(v[fired], i[fired], s_f * (1 - 1e-9), tau, ratio, THETA)).all()
    torch.testing.assert_close(next_spike(v[fired], i[fired], s_f * (1 + 1e-9), tau, ratio, THETA), s_f)


@pytest.mark.parametrize("ratio", RATIOS)
def test_next_spike_none_without_positive_current(ratio):
    v = _f64(0.999, 0.5, -0.5, 0.999)
    i = _f64(0.0, -1.0, -3.0, -1e-12)
    s = next_spike(v, i, torch.full_like(v, math.inf), TAU_MEM[ratio], ratio, THETA)
    assert torch.isinf(s).all() and (s > 0).all()


# --- kernel against the reference -----------------------------------------------------------------------------------


def _layer(B, Q, N, n_in, dtype, seed, device=DEVICE):
    """A random stream [B, Q] (sorted times in [0, 30) ms, so partly after t_max; samples 1 and 2 padded with
    +inf) and weights [N, n_in] that make neurons fire a few times."""
    gen = torch.Generator().manual_seed(seed)
    times = (30 * torch.rand(B, Q, generator=gen, dtype=F64)).sort(dim=1).values
    times[1, Q // 2 :] = math.inf
    times[2, Q // 4 :] = math.inf
    channels = torch.randint(0, n_in, (B, Q), generator=gen)
    weight = 0.5 + torch.randn(N, n_in, generator=gen, dtype=F64)
    return times.to(device, dtype), channels.to(device), weight.to(device, dtype)


def _assert_matches(out, ref, dtype):
    (t, cur, over), (t_ref, cur_ref, over_ref) = out, ref
    assert t.shape == t_ref.shape and t.dtype == dtype and over.dtype == torch.bool
    assert torch.equal(over, over_ref)
    assert torch.equal(torch.isfinite(t), torch.isfinite(t_ref))
    torch.testing.assert_close(t, t_ref, rtol=TOL[dtype], atol=TOL[dtype] * T_MAX)  # +inf padding must agree
    torch.testing.assert_close(cur, cur_ref, rtol=TOL[dtype], atol=TOL[dtype] * 10)


@pytest.mark.parametrize("N", [5, BLOCK_N + 3])  # one partial block; a full block and a partial one
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_matches_reference(N, ratio, dtype):
    K = 3
    args = (*_layer(3, 16, N, 8, dtype, seed=N + ratio), TAU_MEM[ratio], ratio, THETA, T_MAX, K)
    out = event_sim(*args)
    ref = event_sim_ref(*args)
    _assert_matches(out, ref, dtype)
    count = torch.isfinite(ref[0]).sum(-1)
    assert ref[2].any() and not ref[2].all()  # some neurons overflow K, others do not
    assert ((count > 0) & (count < K)).any()
    late = event_sim_ref(*args[:6], T_MAX + 20, K)[0]
    assert (late.isfinite() & (late > T_MAX)).any()  # t_max cuts off spikes that would follow


def test_kernel_empty_and_silent_streams():
    times, channels, weight = _layer(3, 4, 5, 8, F64, seed=0)
    for t in (times[:, :0], torch.full_like(times, math.inf)):  # Q = 0; all padding
        c = channels[:, : t.shape[1]]
        out = event_sim(t, c, weight, 10.0, 2, THETA, T_MAX, 2)
        _assert_matches(out, event_sim_ref(t, c, weight, 10.0, 2, THETA, T_MAX, 2), F64)
        assert torch.isinf(out[0]).all() and not out[2].any()


def test_launcher_rejects_bad_input():
    times, channels, weight = _layer(3, 4, 5, 8, F64, seed=0)
    with pytest.raises(ValueError, match="ratio"):
        event_sim(times, channels, weight, 10.0, 3, THETA, T_MAX, 2)
    with pytest.raises(ValueError, match="max_spikes"):
        event_sim(times, channels, weight, 10.0, 2, THETA, T_MAX, 0)
    with pytest.raises(ValueError, match="channels must be int32/int64"):
        event_sim(times, channels.float(), weight, 10.0, 2, THETA, T_MAX, 2)
    with pytest.raises(ValueError, match="float32 or float64"):
        event_sim(times.half(), channels, weight.half(), 10.0, 2, THETA, T_MAX, 2)
    with pytest.raises(ValueError, match="differ"):
        event_sim(times.float(), channels, weight, 10.0, 2, THETA, T_MAX, 2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_large_matches_reference(ratio, dtype):
    B, Q, N, n_in, K = 16, 200, 300, 100, 8
    times, channels, weight = _layer(B, Q, N, n_in, dtype, seed=ratio)
    args = (times, channels, weight / 4, TAU_MEM[ratio], ratio, THETA, T_MAX, K)
    out = event_sim_forward(*args)  # dispatches to the kernel on CUDA
    ref = event_sim_ref(*args)
    count = torch.isfinite(ref[0]).sum(-1)
    assert 1 < count.float().mean() < K and ref[2].any() and not ref[2].all()
    if dtype == torch.float64:
        _assert_matches(out, ref, dtype)
        return
    # float32 (fast exp/log on the GPU): a neuron whose voltage peaks within rounding of ϑ may fire in one and
    # not the other, which changes its later spikes; allow a few such neurons.
    tol = TOL[dtype]
    t_ok = torch.isclose(out[0], ref[0], rtol=tol, atol=tol * T_MAX) | (torch.isinf(out[0]) & torch.isinf(ref[0]))
    same = t_ok.all(-1) & torch.isclose(out[1], ref[1], rtol=tol, atol=tol * 10).all(-1) & (out[2] == ref[2])
    assert same.float().mean() > 0.998
