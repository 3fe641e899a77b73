"""The Numba CPU kernels of the event simulator against the PyTorch references: spike times, currents and
overflow flags on ragged sizes (odd B, N, Q and K, one and several neuron blocks, padded and empty streams,
inputs after t_max, truncation after K spikes, both τ ratios; float64 to 1e-12, float32 to rounding), the
soundness of the candidate test that skips the closed form, the stream ordering, and the dispatch."""

import math

import numba
import numpy as np
import pytest
import torch
from tests.kernels.test_event_sim import T_MAX, TAU_MEM, THETA, _assert_matches, _layer

from spikegrad.kernels import event_sim as es
from spikegrad.kernels.event_sim_cpu import BLOCK, may_fire, next_spike

F64 = torch.float64


def _args(B, Q, N, K, ratio, dtype, seed):
    return (*_layer(B, Q, N, 9, dtype, seed, device="cpu"), TAU_MEM[ratio], ratio, THETA, T_MAX, K)


@pytest.mark.parametrize("N", [7, BLOCK + 3])  # one partial block; a full block and a partial one
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("ratio", es.RATIOS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_kernel_matches_reference(N, K, ratio, dtype):
    args = _args(5, 41, N, K, ratio, dtype, seed=N + K + ratio)  # samples 1 and 2 padded, inputs up to 30 ms
    ref = es.event_sim_ref(*args)
    _assert_matches(es.event_sim_numba(*args), ref, dtype)  # float64 to 1e-12, float32 to 1e-4 (rounding)
    count = torch.isfinite(ref[0]).sum(-1)
    assert ref[2].any() and not ref[2].all()  # some neurons overflow K, others do not
    assert (count == K).any() and (count < K).any()
    late = es.event_sim_ref(*args[:6], T_MAX + 20, K)[0]
    assert (late.isfinite() & (late > T_MAX)).any()  # t_max cuts off spikes that would follow


@pytest.mark.parametrize("ratio", es.RATIOS)
def test_kernel_matches_reference_with_many_spikes(ratio):
    """K large enough that nothing overflows: long spike trains, emitted in rounds, against the reference."""
    times, channels, weight, *rest = _args(3, 33, 11, 80, ratio, F64, seed=7)
    args = (times, channels, 3 * weight, *rest)
    ref = es.event_sim_ref(*args)
    _assert_matches(es.event_sim_numba(*args), ref, F64)
    assert not ref[2].any() and torch.isfinite(ref[0]).sum(-1).max() > 10


def test_kernel_empty_and_silent_streams():
    times, channels, weight = _layer(3, 4, 5, 8, F64, seed=0, device="cpu")
    cases = [
        (times[:, :0], channels[:, :0], weight),  # Q = 0
        (torch.full_like(times, math.inf), channels, weight),  # all padding
        (times + T_MAX + 1, channels, weight),  # every input after t_max
        (times[:0], channels[:0], weight),  # B = 0
        (times, channels, weight[:0]),  # N = 0
    ]
    for t, c, w in cases:
        out = es.event_sim_numba(t, c, w, 10.0, 2, THETA, T_MAX, 2)
        _assert_matches(out, es.event_sim_ref(t, c, w, 10.0, 2, THETA, T_MAX, 2), F64)
        assert out[0].shape == (t.shape[0], w.shape[0], 2) and torch.isinf(out[0]).all() and not out[2].any()


def test_int32_channels_and_launcher_checks():
    args = _args(3, 9, 6, 2, 2, F64, seed=1)
    _assert_matches(es.event_sim_numba(args[0], args[1].int(), *args[2:]), es.event_sim_ref(*args), F64)
    times, channels, weight = args[:3]
    with pytest.raises(ValueError, match="ratio"):
        es.event_sim_numba(times, channels, weight, 10.0, 3, THETA, T_MAX, 2)
    with pytest.raises(ValueError, match="max_spikes"):
        es.event_sim_numba(times, channels, weight, 10.0, 2, THETA, T_MAX, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        es.event_sim_numba(times.half(), channels, weight.half(), 10.0, 2, THETA, T_MAX, 2)


def test_dispatch_uses_the_cpu_kernel(monkeypatch):
    calls = []
    kernel = es.event_sim_cpu.event_sim
    monkeypatch.setattr(es.event_sim_cpu, "event_sim", lambda *a: calls.append(1) or kernel(*a))
    args = _args(3, 9, 6, 2, 2, F64, seed=1)
    _assert_matches(es.event_sim_forward(*args), es.event_sim_ref(*args), F64)
    assert calls == [1]


@pytest.mark.parametrize(
    ("torch_threads", "grain", "expected"), [(1, 0, 1), (2, 1 << 60, 1), (2, 0, min(2, numba.config.NUMBA_NUM_THREADS))]
)
def test_kernel_threads_follow_torch_and_the_grain(torch_threads, grain, expected, monkeypatch):
    seen = []
    kernel = es.event_sim_cpu.event_sim
    monkeypatch.setattr(es.event_sim_cpu, "event_sim", lambda *a: seen.append(numba.get_num_threads()) or kernel(*a))
    monkeypatch.setattr(es.event_sim_cpu, "GRAIN", grain)
    before, threads = numba.get_num_threads(), torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        es.event_sim_numba(*_args(3, 9, 6, 2, 2, F64, seed=1))
    finally:
        torch.set_num_threads(threads)
    assert seen == [expected] and numba.get_num_threads() == before


@pytest.mark.parametrize("ratio", es.RATIOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skipped_neurons_never_fire(ratio, dtype):
    """``may_fire`` False ⇒ ``next_spike`` = +inf, on random states and on states whose crossing (or grazing
    peak) lies within rounding of the gap, where its margin matters; both outcomes occur."""
    gen = np.random.default_rng(ratio)
    tau, m = TAU_MEM[ratio], 4000
    i = np.exp(gen.uniform(0, 2.5, m))
    tiny = gen.normal(0, 1, m) * gen.choice([1e-2, 1e-4, 1e-6, 1e-9], m)
    if ratio == 2:  # V's peak (V + I)²/4I = ϑ(1 + tiny) at y = (V + I)/2I
        v = 2 * np.sqrt(THETA * i * (1 + tiny)) - i
        peak = -tau * np.log((v + i) / (2 * i))
    else:  # peak at s/τ = 1 − V/I, value I e^{V/I − 1}
        v = i * (1 + np.log(THETA * (1 + tiny) / i))
        peak = tau * (1 - v / i)
    gap = peak * (1 + gen.normal(0, 1, m) * gen.choice([1e-1, 1e-3, 1e-6], m))
    v = np.concatenate([v, gen.uniform(-1, 0.99, m)])  # and random states
    i = np.concatenate([i, np.exp(gen.uniform(-3, 2, m))])
    gap = np.concatenate([gap, tau * np.exp(gen.uniform(-6, 1, m))])
    keep = (v < THETA) & (gap > 0)
    like, f = np.zeros(1, dtype), dtype
    skipped, fired = 0, 0
    for v_, i_, gap_ in zip(v[keep], i[keep], gap[keep], strict=True):
        s = next_spike(f(v_), f(i_), f(gap_), f(tau), f(THETA), ratio, like)
        fired += s < math.inf
        if not may_fire(f(v_), f(i_), f(gap_), f(math.exp(-f(gap_) / f(tau))), f(tau), f(THETA), ratio, like):
            skipped += 1
            assert s == math.inf, (v_, i_, gap_)
    assert skipped > 1000 and fired > 1000


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_stream_order_matches_reference(dtype):
    gen = torch.Generator().manual_seed(0)
    times = (torch.rand(7, 40, generator=gen, dtype=F64) * 8).round().to(dtype)  # many ties
    times[torch.rand(7, 40, generator=gen) < 0.4] = math.inf
    times[3] = math.inf  # a silent sample
    times[5, :3] = -math.inf  # sorts first but does not count as a spike
    order = es.stream_order(times)
    assert torch.equal(order, es.stream_order_ref(times))
    assert order.shape == (7, int(torch.isfinite(times).sum(1).max()))
    for shape in [(0, 5), (3, 0), (2, 1)]:  # empty, and one padding entry
        empty = torch.full(shape, math.inf, dtype=dtype)
        assert torch.equal(es.stream_order(empty), es.stream_order_ref(empty))
