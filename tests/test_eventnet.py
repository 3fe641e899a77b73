"""Event networks: the conv layer's gathered weights equal a convolution, pooling keeps every spike of its window
in time order, initial weights follow the documented scale, and the three exact engines give one gradient on a
conv → pool → dense network."""

import math

import pytest
import torch
import torch.nn.functional as F

from spikegrad.eventnet import EventNet, gather_times, pool_index
from spikegrad.model import Layer, LIFParams, NetworkSpec, WeightInit, layer_shapes

NEURON = LIFParams(tau_mem=10.0, tau_syn=5.0)


def conv_spec(**kwargs) -> NetworkSpec:
    layers = (
        Layer(2, kind="conv", kernel=3, threshold=1.0, max_spikes=4, init=WeightInit(2.0, 1.0)),
        Layer(2, kind="pool"),
        Layer(3, threshold=1.0, max_spikes=6, init=WeightInit(3.0, 1.0)),
    )
    return NetworkSpec((1, 6, 6), layers, NEURON)._replace(**kwargs)


def conv_net(engine: str = "spiketime", seed: int = 0) -> EventNet:
    return EventNet(conv_spec(), engine, seed, t_max=40.0, truncate=True, dtype=torch.float64)


def test_conv_weight_is_a_valid_stride_one_convolution():
    net = conv_net()
    x = torch.randn(3, 1, 6, 6, dtype=torch.float64)
    dense = net.dense_weight(0, 36)
    expected = F.conv2d(x, net.layers[0].weight).reshape(3, -1)
    torch.testing.assert_close(x.reshape(3, -1) @ dense.T, expected)


def test_pool_concatenates_each_window_in_time_order():
    gen = torch.Generator().manual_seed(0)
    times = torch.rand(2, 2 * 4 * 4, 3, generator=gen, dtype=torch.float64) * 10
    times[torch.rand(times.shape, generator=gen) < 0.4] = math.inf
    pooled = gather_times(times, pool_index(times, (2, 4, 4), 2))
    assert pooled.shape == (2, 2 * 2 * 2, 12)
    grid = times.view(2, 2, 4, 4, 3)
    for b in range(2):
        for c in range(2):
            for y in range(2):
                for x in range(2):
                    window = grid[b, c, 2 * y : 2 * y + 2, 2 * x : 2 * x + 2].reshape(-1)
                    expected = window.sort().values
                    assert torch.equal(pooled[b, (c * 2 + y) * 2 + x], expected)


def test_initial_weights_follow_the_documented_scale():
    spec = NetworkSpec((400,), (Layer(300, threshold=2.0, init=WeightInit(3.0, 0.5)),), NEURON)
    w = EventNet(spec, dtype=torch.float64).layers[0].weight
    scale = 2.0 / 0.25  # ϑ / κ_max for τ_m = 2τ_s
    assert w.mean().item() == pytest.approx(3.0 * scale / 400, rel=0.05)
    assert w.std().item() == pytest.approx(0.5 * scale / 20, rel=0.05)


def test_layer_shapes_and_bad_specs():
    assert layer_shapes(conv_spec()) == [(2, 4, 4), (2, 2, 2), (3,)]
    with pytest.raises(ValueError, match="kind"):
        layer_shapes(conv_spec(layers=(Layer(3, kind="lstm"),)))
    with pytest.raises(ValueError, match="does not divide"):
        layer_shapes(conv_spec(layers=(Layer(4, kind="pool"),)))
    with pytest.raises(ValueError, match="needs a \\(C, H, W\\) input"):
        layer_shapes(NetworkSpec((36,), (Layer(2, kind="conv", kernel=3),)))
    with pytest.raises(ValueError, match="unknown engine"):
        EventNet(conv_spec(), engine="bptt")
    with pytest.raises(ValueError, match="expected input spike times"):
        EventNet(conv_spec())(torch.zeros(2, 35, 1))


def test_engines_agree_on_a_conv_pool_dense_network():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 36, 1, generator=gen, dtype=torch.float64) * 20
    c = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
    grads = {}
    for engine in ("spiketime", "adjoint", "forwardprop"):
        net = conv_net(engine, seed=3)
        outputs = net(x).spikes
        assert torch.isfinite(outputs[0]).sum(-1).float().mean() > 1.0  # conv neurons fire several spikes
        assert torch.isfinite(outputs[-1]).sum() > 6
        torch.where(torch.isfinite(outputs[-1]), c * outputs[-1], 0.0).sum().backward()
        grads[engine] = [net.layers[k].weight.grad for k in (0, 2)]
    for engine in ("adjoint", "forwardprop"):
        for mine, ref in zip(grads[engine], grads["spiketime"], strict=True):
            torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-12)
