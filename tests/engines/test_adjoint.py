"""Continuous-time EventProp (adjoint sweep) against reverse mode through spike times (spiketime) and central
finite differences of the event simulation, float64."""

import math

import pytest
import torch

from spikegrad.engines import adjoint, spiketime
from spikegrad.engines.events import EventOptions, simulate
from spikegrad.model import LIFParams

T_MAX = 60.0


def lif_for(ratio):
    return LIFParams(tau_mem=10.0, tau_syn=10.0 / ratio)


def network(seed, ratio, n_in, sizes, k_in=3, gains=(1.0, 1.0)):
    """Inputs [2, n_in, k_in] in [0, 50] ms with some padding and a few spikes after t_max, and weights for
    layers of the given sizes, scaled so that with 30 inputs and unit gains neurons fire ~10-25 times."""
    gen = torch.Generator().manual_seed(seed)
    tin = torch.rand(2, n_in, k_in, dtype=torch.float64, generator=gen) * 50
    tin[:, ::3, -1] = math.inf  # padding
    tin[:, 1::7, -1] = T_MAX + 5  # dropped by the simulation
    scale = 1.0 if ratio == 2 else 0.6  # τ_s = τ_m integrates twice the charge
    weights, fan_in = [], n_in
    for depth, n in enumerate(sizes):
        mean, std = (0.5, 0.8) if depth == 0 else (0.2, 0.3)
        weights.append((torch.randn(n, fan_in, dtype=torch.float64, generator=gen) * std + mean) * scale * gains[depth])
        fan_in = n
    return tin.sort(-1).values, weights


def loss_and_grads(engine, tin, weights, coefs, lif, options):
    """Σ_layers Σ c·t over the finite spike times; returns the output times of each layer and the gradients
    with respect to the inputs and each weight."""
    tin = tin.clone().requires_grad_()
    weights = [w.clone().requires_grad_() for w in weights]
    x, loss, outs = tin, 0.0, []
    for w, c in zip(weights, coefs, strict=True):
        x = engine.layer(x, w, lif, options)
        outs.append(x.detach())
        loss = loss + torch.where(torch.isfinite(x), c[..., : x.shape[-1]] * x, 0.0).sum()
    loss.backward()
    return outs, [tin.grad] + [w.grad for w in weights]


def coefficients(seed, sizes, k):
    gen = torch.Generator().manual_seed(seed + 1000)
    return [torch.randn(2, n, k, dtype=torch.float64, generator=gen) for n in sizes]


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("ratio", [2, 1])
@pytest.mark.parametrize("sizes", [(8,), (6, 4)], ids=["1-layer", "2-layer"])
def test_matches_spiketime_with_many_spikes(ratio, sizes):
    lif, options = lif_for(ratio), EventOptions(max_spikes=40, t_max=T_MAX)
    tin, weights = network(0, ratio, 30, sizes)
    coefs = coefficients(0, sizes, 40)
    outs_a, grads_a = loss_and_grads(adjoint, tin, weights, coefs, lif, options)
    outs_s, grads_s = loss_and_grads(spiketime, tin, weights, coefs, lif, options)
    for a, s in zip(outs_a, outs_s, strict=True):
        assert torch.equal(a, s)
    counts = torch.isfinite(outs_a[0]).sum(-1)
    assert counts.max() >= 10 and counts.float().mean() >= 5
    if len(sizes) == 2:
        assert torch.isfinite(outs_a[1]).sum() >= 20
    for a, s in zip(grads_a, grads_s, strict=True):
        assert s.abs().max() > 0
        assert rel_err(a, s) < 1e-10
    dead = ~torch.isfinite(tin) | (tin > T_MAX)
    assert (grads_a[0][dead] == 0).all()


@pytest.mark.parametrize("max_spikes", [1, 3])
def test_matches_spiketime_with_truncation(max_spikes):
    lif = lif_for(2)
    options = EventOptions(max_spikes=max_spikes, t_max=T_MAX, truncate=True)
    sizes = (6, 4)
    tin, weights = network(1, 2, 20, sizes, gains=(1.0, 8.0))
    full = simulate(tin, weights[0], lif, EventOptions(max_spikes=40, t_max=T_MAX))[2]
    assert (torch.isfinite(full).sum(-1) > max_spikes).any()  # truncation is active in layer 1
    coefs = coefficients(1, sizes, max_spikes)
    outs_a, grads_a = loss_and_grads(adjoint, tin, weights, coefs, lif, options)
    outs_s, grads_s = loss_and_grads(spiketime, tin, weights, coefs, lif, options)
    assert torch.isfinite(outs_a[1]).any()
    for a, s in zip(grads_a, grads_s, strict=True):
        assert s.abs().max() > 0
        assert rel_err(a, s) < 1e-10


@pytest.mark.parametrize("ratio", [2, 1])
def test_matches_central_finite_differences(ratio):
    lif, options, eps = lif_for(ratio), EventOptions(max_spikes=20, t_max=T_MAX), 1e-6
    sizes = (5, 3)
    tin, weights = network(0, ratio, 12, sizes, k_in=2, gains=(1.5, 3.0))
    tin, coefs = tin[:1], [c[:1] for c in coefficients(0, sizes, 20)]
    base, grads = loss_and_grads(adjoint, tin, weights, coefs, lif, options)
    counts = [torch.isfinite(o).sum(-1) for o in base]
    assert counts[0].max() >= 5 and counts[1].max() >= 10
    base = [tin] + base  # the input and each layer's output, sample 0

    # All ±ε copies at once, O(copies) neurons per simulation. An input-time copy is one sample of a batch. A copy
    # of weight (n, j) of layer l re-simulates neuron n alone (neurons are independent given their inputs): one
    # row each of a stacked weight matrix; the layers above l then run on the copies as a batch.
    for which, (param, grad) in enumerate(zip([tin[0]] + weights, grads, strict=True)):
        moves = [(idx, sign) for idx in torch.isfinite(param).nonzero().tolist() for sign in (1, -1)]
        P, rows = len(moves), [idx[0] for idx, _ in moves]
        layers = [b.expand(P, -1, -1).clone() for b in base[: max(which, 1)]]  # unchanged below layer `which`
        if which == 0:
            for p, (idx, sign) in enumerate(moves):
                layers[0][p, idx[0], idx[1]] += sign * eps
        else:
            w = weights[which - 1][rows].clone()
            for p, (idx, sign) in enumerate(moves):
                w[p, idx[1]] += sign * eps
            moved = base[which].expand(P, -1, -1).clone()
            moved[range(P), rows] = simulate(base[which - 1], w, lif, options)[2][0]
            layers.append(moved)
        for w in weights[len(layers) - 1 :]:
            layers.append(simulate(layers[-1], w, lif, options)[2])
        loss = torch.zeros(P, dtype=torch.float64)
        for x, c, n in zip(layers[1:], coefs, counts, strict=True):
            assert torch.equal(torch.isfinite(x).sum(-1), n.expand(P, -1))  # no spike created or lost by any ±ε
            loss += torch.where(torch.isfinite(x), c * x, 0.0).sum((1, 2))
        fd = torch.zeros_like(param)
        fd[torch.isfinite(param)] = (loss[0::2] - loss[1::2]) / (2 * eps)
        assert rel_err(grad.reshape(param.shape), fd) < 1e-6, (which, rel_err(grad.reshape(param.shape), fd))
