"""Forward propagation of spike-time derivatives (forwardprop) against reverse mode through spike times
(spiketime) and central finite differences of the event simulation, float64."""

import functools
import math

import pytest
import torch

from spikegrad.engines import forwardprop, spiketime
from spikegrad.engines.events import EventOptions, simulate
from spikegrad.model import LIFParams

T_MAX = 60.0
K = 40
OPTIONS = EventOptions(max_spikes=K, t_max=T_MAX)
FIRST_LAYER_WEIGHT = 0.3  # the loss term on the first layer's times


def lif_for(ratio):
    return LIFParams(tau_mem=10.0, tau_syn=10.0 / ratio)


def make_network(seed, ratio, n_in, sizes, k_in=3):
    """Inputs [2, n_in, k_in] in [0, 50] ms (some padding, some after t_max) and weights for which the neurons
    fire ~5-20 times (as in test_adjoint)."""
    gen = torch.Generator().manual_seed(seed)
    tin = torch.rand(2, n_in, k_in, dtype=torch.float64, generator=gen) * 50
    tin[:, ::3, -1] = math.inf
    tin[:, 1::7, -1] = T_MAX + 5
    scale = 1.0 if ratio == 2 else 0.6
    weights, fan_in = [], n_in
    for depth, n in enumerate(sizes):
        mean, std = (0.5, 0.8) if depth == 0 else (0.2, 0.3)
        weights.append((torch.randn(n, fan_in, dtype=torch.float64, generator=gen) * std + mean) * scale)
        fan_in = n
    return tin.sort(-1).values, weights


def coefficients(seed, shapes):
    gen = torch.Generator().manual_seed(seed + 1000)
    return [torch.randn(2, *shape, dtype=torch.float64, generator=gen) for shape in shapes]


def loss_of(outs, coefs):
    """Σ c·t over the finite times of the last output plus FIRST_LAYER_WEIGHT × the same on the first."""

    def term(t, c):
        return torch.where(torch.isfinite(t), c[..., : t.shape[-1]] * t, 0.0).sum()

    return term(outs[-1], coefs[-1]) + FIRST_LAYER_WEIGHT * term(outs[0], coefs[0])


def loss_grad_of_times(outs, coefs):
    """∂loss/∂t for each output of :func:`loss_of` (zero at padding)."""
    grads = [torch.zeros_like(t) for t in outs]
    for i, w in ((len(outs) - 1, 1.0), (0, FIRST_LAYER_WEIGHT)):
        t = outs[i]
        grads[i] = grads[i] + torch.where(torch.isfinite(t), w * coefs[i][..., : t.shape[-1]], 0.0)
    return grads


def pair_pool(times):
    """Index [B, N/2, 2K] concatenating the buffers of neurons 2i and 2i + 1, sorted by time (−1: padding)."""
    B, N, K_ = times.shape
    slots = torch.arange(N * K_).view(N // 2, 2 * K_)
    pairs = times.reshape(B, N // 2, 2 * K_)
    order = torch.argsort(pairs, dim=-1, stable=True)
    index = slots.expand(B, -1, -1).gather(-1, order)
    return torch.where(torch.isfinite(pairs.gather(-1, order)), index, -1)


def gather_reference(times, index):
    B = times.shape[0]
    flat = times.reshape(B, -1).gather(1, index.clamp(min=0).reshape(B, -1)).view(index.shape)
    return torch.where(index >= 0, flat, torch.full_like(flat, math.inf))


def reverse_mode(tin, weights, coefs, lif, pool=False):
    """Output times of every op and ∂loss/∂W by spiketime (chained layers, torch gather for pooling)."""
    weights = [w.clone().requires_grad_() for w in weights]
    x, outs = tin, []
    for i, w in enumerate(weights):
        if pool and i == 1:
            x = gather_reference(x, pair_pool(x.detach()))
            outs.append(x)
        x = spiketime.layer(x, w, lif, OPTIONS)
        outs.append(x)
    loss_of(outs, coefs).backward()
    return [o.detach() for o in outs], [w.grad for w in weights]


def ops_for(weights, lif, pool=False):
    ops = []
    for i, w in enumerate(weights):
        if pool and i == 1:
            ops.append(forwardprop.Gather(pair_pool))
        ops.append(forwardprop.LIF(w, lif, OPTIONS))
    return ops


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@functools.cache
def case(ratio, sizes):
    """Network, loss coefficients and the reverse-mode reference (cached across tests)."""
    lif = lif_for(ratio)
    tin, weights = make_network(0, ratio, 30, sizes)
    coefs = coefficients(0, [(n, K) for n in sizes])
    outs, grads = reverse_mode(tin, weights, coefs, lif)
    counts = torch.isfinite(outs[0]).sum(-1)
    assert counts.max() >= 10 and counts.float().mean() >= 5  # many spikes per neuron
    return lif, tin, weights, coefs, outs, grads


SIZES = pytest.mark.parametrize("sizes", [(8,), (6, 4)], ids=["1-layer", "2-layer"])


@pytest.mark.parametrize("ratio", [2, 1])
@SIZES
def test_network_gradient_matches_spiketime(ratio, sizes):
    lif, tin, weights, coefs, outs_r, grads_r = case(ratio, sizes)
    params = [w.clone().requires_grad_() for w in weights]
    tin_fp = tin.clone().requires_grad_()
    outs = forwardprop.network(tin_fp, ops_for(params, lif))
    for a, r in zip(outs, outs_r, strict=True):
        assert torch.equal(a.detach(), r)
    if len(sizes) == 2:
        assert torch.isfinite(outs[1]).sum() >= 20
    loss_of(outs, coefs).backward()
    for p, g in zip(params, grads_r, strict=True):
        assert g.abs().max() > 0
        assert rel_err(p.grad, g) < 1e-10
    assert tin_fp.grad is None  # input spike times get no gradient from FP


@pytest.mark.parametrize("ratio", [2, 1])
@SIZES
def test_jvp_matches_reverse_mode_directional_derivative(ratio, sizes):
    lif, tin, weights, coefs, outs_r, grads_r = case(ratio, sizes)
    gen = torch.Generator().manual_seed(7)
    directions = [torch.randn(w.shape, dtype=w.dtype, generator=gen) for w in weights]
    outs, tangents = forwardprop.jvp(tin, ops_for(weights, lif), directions)
    for a, r, d in zip(outs, outs_r, tangents, strict=True):
        assert torch.equal(a, r)
        assert (d[~torch.isfinite(a)] == 0).all()
    fp = sum((g * d).sum() for g, d in zip(loss_grad_of_times(outs, coefs), tangents, strict=True))
    reverse = sum((g * d).sum() for g, d in zip(grads_r, directions, strict=True))
    assert abs(fp - reverse) / abs(reverse) < 1e-10


@pytest.mark.parametrize("ratio", [2, 1])
def test_jvp_matches_central_finite_differences(ratio):
    lif, eps = lif_for(ratio), 1e-6
    tin, weights = make_network(3, ratio, 12, (5, 3), k_in=2)
    weights = [weights[0] * 1.5, weights[1] * 3.0]
    gen = torch.Generator().manual_seed(11)
    directions = [torch.randn(w.shape, dtype=w.dtype, generator=gen) for w in weights]
    outs, tangents = forwardprop.jvp(tin, ops_for(weights, lif), directions)
    counts = [torch.isfinite(o).sum(-1) for o in outs]
    assert counts[0].max() >= 5 and counts[1].max() >= 5

    def run(sign):
        x, res = tin, []
        for w, d, n in zip(weights, directions, counts, strict=True):
            x = simulate(x, w + sign * eps * d, lif, OPTIONS)[2]
            assert torch.equal(torch.isfinite(x).sum(-1), n)  # no spike created or lost by the perturbation
            res.append(x)
        return res

    for o, d, plus, minus in zip(outs, tangents, run(1), run(-1), strict=True):
        live = torch.isfinite(o)
        fd = torch.where(live, (plus - minus) / (2 * eps), 0.0)
        assert rel_err(d, fd) < 1e-6


@pytest.mark.parametrize("ratio", [2, 1])
def test_gather_op_matches_spiketime_with_torch_gather(ratio):
    lif = lif_for(ratio)
    tin, weights = make_network(2, ratio, 20, (8,))
    gen = torch.Generator().manual_seed(4)  # 8 neurons pooled in pairs feed 3 neurons
    weights.append((torch.randn(3, 4, dtype=torch.float64, generator=gen) * 0.3 + 0.15) * (1.0 if ratio == 2 else 0.6))
    coefs = coefficients(2, [(8, K), (3, K)])
    outs_r, grads_r = reverse_mode(tin, weights, coefs, lif, pool=True)
    assert outs_r[1].shape == (2, 4, 2 * K) and torch.isfinite(outs_r[2]).sum() >= 10
    params = [w.clone().requires_grad_() for w in weights]
    outs = forwardprop.network(tin, ops_for(params, lif, pool=True))
    for a, r in zip(outs, outs_r, strict=True):
        assert torch.equal(a.detach(), r)
    # a loss term on the pooled times too: gradients routed back through the Gather
    extra = torch.where(torch.isfinite(outs[1]), 0.5 * outs[1], 0.0).sum()
    (loss_of(outs, coefs) + extra).backward()
    params_r = [w.clone().requires_grad_() for w in weights]
    x1 = spiketime.layer(tin, params_r[0], lif, OPTIONS)
    pooled = gather_reference(x1, pair_pool(x1.detach()))
    x2 = spiketime.layer(pooled, params_r[1], lif, OPTIONS)
    (loss_of([x1, pooled, x2], coefs) + torch.where(torch.isfinite(pooled), 0.5 * pooled, 0.0).sum()).backward()
    for p, r in zip(params, params_r, strict=True):
        assert r.grad.abs().max() > 0
        assert rel_err(p.grad, r.grad) < 1e-10
    # jvp: the Gather op's tangents are the gathered tangents of the layer below
    directions = [torch.randn_like(w) for w in weights]
    _, tangents = forwardprop.jvp(tin, ops_for(weights, lif, pool=True), directions)
    assert torch.equal(
        tangents[1], torch.where(pair_pool(outs_r[0]) >= 0, gather_reference(tangents[0], pair_pool(outs_r[0])), 0.0)
    )


def test_reset_terms_matter_with_many_spikes():
    lif, tin, weights, coefs, outs_r, grads_r = case(1, (6, 4))
    gen = torch.Generator().manual_seed(5)
    directions = [torch.randn(w.shape, dtype=w.dtype, generator=gen) for w in weights]
    ops = ops_for(weights, lif)
    dl = []
    for own in (True, False):
        outs, tangents = forwardprop.jvp(tin, ops, directions, own_spike_terms=own)
        dl.append(sum((g * d).sum() for g, d in zip(loss_grad_of_times(outs, coefs), tangents, strict=True)))
    assert abs(dl[0] - dl[1]) > 0.01 * abs(dl[0])


def test_budget_and_argument_errors():
    lif, tin, weights, *_ = case(2, (6, 4))
    with pytest.raises(ValueError, match="jvp"):
        forwardprop.network(tin, ops_for(weights, lif), budget=1000)
    with pytest.raises(ValueError, match="direction"):
        forwardprop.jvp(tin, ops_for(weights, lif), [None])
    with pytest.raises(ValueError, match="Gather index"):
        forwardprop.jvp(tin, [forwardprop.Gather(lambda t: torch.full((2, 1, 1), 10**6))], [])
