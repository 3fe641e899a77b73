"""The event simulator and reverse-mode backprop through spike times: spike times against the independent
root-finding simulation of ``continuous_reference``, gradients against central finite differences and
``gradcheck`` in float64, the own-spike (reset) recursion, buffers and bad input."""

import math

import numpy as np
import pytest
import torch

import continuous_reference as continuous
from spikegrad.engines import spiketime
from spikegrad.engines.events import BufferOverflow, EventOptions, input_stream, ratio_of, simulate, slope
from spikegrad.model import LIFParams

OPTIONS = EventOptions(max_spikes=200, t_max=60.0)


def lif_for(ratio: int) -> LIFParams:
    return LIFParams(tau_mem=10.0, tau_syn=10.0 / ratio, threshold=1.0)


def network(ratio: int, seed: int = 0, batch: int = 2):
    """Inputs [B, 12, 3] (two spikes per channel in [0, 30] ms) and two weight matrices under which hidden
    neurons fire 2–30 spikes and outputs 3–60."""
    gen = torch.Generator().manual_seed(seed)
    tin = torch.rand(batch, 12, 3, generator=gen, dtype=torch.float64) * 30
    tin[:, :, 2] = math.inf
    scale = 1.0 if ratio == 2 else 0.6
    w1 = (torch.randn(6, 12, generator=gen, dtype=torch.float64) + 0.8) * scale
    w2 = (torch.randn(3, 6, generator=gen, dtype=torch.float64) * 0.5 + 0.4) * scale
    return tin.sort(-1).values, w1, w2


def weighted_times(times: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(times), c * times, torch.zeros_like(times)).sum()


def two_layer_loss(tin, w1, w2, lif, c1, c2):
    t1 = spiketime.layer(tin, w1, lif, OPTIONS)
    t2 = spiketime.layer(t1, w2, lif, OPTIONS)
    return weighted_times(t1, c1) + weighted_times(t2, c2), (t1, t2)


@pytest.mark.parametrize("ratio", [2, 1])
def test_spike_times_match_root_finding_simulation(ratio):
    lif = lif_for(ratio)
    tin, w1, w2 = network(ratio)
    t1 = spiketime.layer(tin, w1, lif, OPTIONS)
    t2 = spiketime.layer(t1, w2, lif, OPTIONS)
    assert torch.isfinite(t1).sum(-1).float().mean() > 5  # many spikes per neuron
    for b in range(tin.shape[0]):
        inputs = [tin[b, j][torch.isfinite(tin[b, j])].numpy() for j in range(tin.shape[1])]
        layers = [continuous.Layer(w1.numpy(), None), continuous.Layer(w2.numpy(), None)]
        ref = continuous.simulate(inputs, layers, lif, OPTIONS.t_max, np.zeros(1))
        for mine, theirs in zip((t1[b], t2[b]), ref.spike_times, strict=True):
            for n, expected in enumerate(theirs):
                got = mine[n][torch.isfinite(mine[n])].numpy()
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("ratio", [2, 1])
def test_gradient_matches_central_finite_differences(ratio):
    """Directional derivatives along random directions in (input times, W1, W2) against ⟨gradient, direction⟩."""
    lif = lif_for(ratio)
    tin, w1, w2 = network(ratio, seed=1, batch=1)
    gen = torch.Generator().manual_seed(2)
    c1 = torch.randn(1, 6, OPTIONS.max_spikes, generator=gen, dtype=torch.float64) * 0.1
    c2 = torch.randn(1, 3, OPTIONS.max_spikes, generator=gen, dtype=torch.float64)
    params = [tin.clone().requires_grad_(), w1.clone().requires_grad_(), w2.clone().requires_grad_()]
    loss, (t1, t2) = two_layer_loss(*params, lif, c1, c2)
    loss.backward()
    counts = [torch.isfinite(t).sum() for t in (t1, t2)]
    eps = 1e-6
    for _ in range(3):
        direction = [
            torch.where(torch.isfinite(p), torch.randn(p.shape, generator=gen, dtype=p.dtype), 0.0) for p in params
        ]
        values = []
        for sign in (1, -1):
            shifted = [p.detach() + sign * eps * d for p, d in zip(params, direction, strict=True)]
            value, outs = two_layer_loss(*shifted, lif, c1, c2)
            assert [torch.isfinite(t).sum() for t in outs] == counts  # same branch: no spike created or deleted
            values.append(value)
        fd = (values[0] - values[1]) / (2 * eps)
        exact = sum(
            (torch.where(torch.isfinite(p), p.grad, 0.0) * d).sum() for p, d in zip(params, direction, strict=True)
        )
        assert abs(fd - exact) <= 1e-6 * abs(exact)


@pytest.mark.parametrize("ratio", [2, 1])
def test_gradcheck(ratio):
    lif = lif_for(ratio)
    tin, w1, _ = network(ratio, seed=3, batch=2)

    def f(t, w):
        out = spiketime.layer(t, w, lif, OPTIONS)
        return torch.where(torch.isfinite(out), out, torch.zeros_like(out))

    torch.autograd.gradcheck(
        f, (tin.requires_grad_(), w1.requires_grad_()), eps=1e-7, atol=1e-6, rtol=1e-5, fast_mode=True
    )


def test_reset_recursion_changes_the_gradient():
    """Treating each spike on its own (Ē_k = e_k) is wrong by far more than round-off on many-spike neurons."""
    lif = lif_for(2)
    tin, w1, _ = network(2, seed=4, batch=1)
    times, channels, out, current = simulate(tin, w1, lif, OPTIONS)
    errors = torch.where(torch.isfinite(out), torch.ones_like(out), 0.0)
    vdot = slope(current, lif)
    grads = []
    for total in (spiketime.total_errors(errors, out, vdot, lif), errors):
        g = torch.where(torch.isfinite(out), -total / vdot, 0.0)
        grads.append(spiketime.weight_and_input_grads(g, out, times, channels, w1, lif)[0])
    w = w1.clone().requires_grad_()
    weighted_times(spiketime.layer(tin, w, lif, OPTIONS), torch.ones(())).backward()
    torch.testing.assert_close(w.grad, grads[0], rtol=1e-12, atol=1e-12)
    assert (grads[0] - grads[1]).norm() > 0.1 * grads[0].norm()


def test_truncation_keeps_the_first_spikes_and_overflow_raises():
    lif = lif_for(2)
    tin, w1, _ = network(2, seed=5, batch=2)
    full = spiketime.layer(tin, w1, lif, OPTIONS)
    k = 2
    cut = spiketime.layer(tin, w1, lif, OPTIONS._replace(max_spikes=k, truncate=True))
    torch.testing.assert_close(cut, full[..., :k], rtol=0, atol=1e-12)
    with pytest.raises(BufferOverflow, match="max_spikes=2"):
        spiketime.layer(tin, w1, lif, OPTIONS._replace(max_spikes=k))


def test_input_stream_is_sorted_with_channels():
    tin = torch.tensor([[[3.0, math.inf], [1.0, 4.0], [math.inf, math.inf]]])
    times, channels = input_stream(tin)
    assert times.tolist() == [[1.0, 3.0, 4.0]]
    assert channels.tolist() == [[1, 0, 1]]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="tau_mem = 2\\*tau_syn"):
        ratio_of(LIFParams(tau_mem=20.0, tau_syn=5.0))
    with pytest.raises(ValueError, match="input has 3 channels"):
        simulate(torch.zeros(1, 3, 1), torch.zeros(2, 4), lif_for(2), OPTIONS)
    with pytest.raises(ValueError, match="max_spikes"):
        simulate(torch.zeros(1, 3, 1), torch.zeros(2, 3), lif_for(2), EventOptions(max_spikes=0))
    with pytest.raises(ValueError, match="t_max"):
        simulate(torch.zeros(1, 3, 1), torch.zeros(2, 3), lif_for(2), EventOptions(t_max=math.inf))


@pytest.mark.parametrize("tau_mem, tau_syn", [(10.0, 5.0), (8.0, 8.0)])
def test_kappa_max_is_the_peak_of_kappa(tau_mem, tau_syn):
    from spikegrad.engines.events import kappa, kappa_max

    lif = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn)
    s = torch.linspace(1e-3, 10 * tau_mem, 100_001, dtype=torch.float64)  # a grid of 1e-3 ms steps and finer
    assert kappa(s, lif)[0].max().item() == pytest.approx(kappa_max(round(tau_mem / tau_syn)), rel=1e-8)
    with pytest.raises(ValueError, match="must be one of"):
        kappa_max(3)
