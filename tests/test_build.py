"""The one network front-end (spikegrad.network.build): one spec language for every family, the family chosen by
engine and neuron model, one output contract read by every loss, and clear errors for what a family cannot run."""

import math
import re

import pytest
import torch

from spikegrad import losses
from spikegrad.engines import ENGINES
from spikegrad.eventnet import EventNet
from spikegrad.model import Layer, LIFParams, NetworkOutput, NetworkSpec, WeightInit, dense_stack, init_weights
from spikegrad.network import SNN, build
from spikegrad.sgnet import CellParams, SGNet

GRID = dense_stack(4, (6,), 3, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(3.0, 1.0))
CELLS = dense_stack(4, (6,), 3, recurrent=True, readout="linear", neuron=CellParams(), hidden_neuron="alif")
EVENTS = NetworkSpec((4,), (Layer(6, max_spikes=3, init=WeightInit(3.0, 1.0)), Layer(3, max_spikes=3)),
                     LIFParams(tau_mem=10.0, tau_syn=5.0))  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "engine", "family", "reads"),
    [
        (GRID, "bptt", SNN, "voltage"),
        (GRID._replace(neuron=LIFParams(dt=1.0, reset="subtract")), "sparse", SNN, "voltage"),
        (GRID, "eventprop", SNN, "voltage"),
        (GRID._replace(layers=(GRID.layers[0], Layer(3, "lif"))), "eventprop", SNN, "first_spike"),
        (CELLS, "bptt", SGNet, "voltage"),
        (EVENTS, "spiketime", EventNet, "spike_times"),
        (EVENTS, "adjoint", EventNet, "spike_times"),
        (EVENTS, "forwardprop", EventNet, "spike_times"),
    ],
)
def test_build_picks_the_family_and_every_loss_reads_the_output_it_names(spec, engine, family, reads):
    options = {"t_max": 30.0, "truncate": True} if family is EventNet else {}
    net = build(spec, engine, seed=1, **options)
    assert type(net) is family and net.engine == engine and net.reads == reads and net.spec == spec
    if net.time == "grid":
        x = (torch.rand(25, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    else:
        x = torch.rand(2, 4, 1, generator=torch.Generator().manual_seed(0)) * 20
    out = net(x)
    assert isinstance(out, NetworkOutput) and len(out.counts) == len(out.spikes)
    for name in (name for name, kind in losses.READS.items() if kind == reads):
        read = losses.read(name, out)
        expected = out.spikes[-1] if reads == "spike_times" else getattr(out, reads)
        assert read is expected
        assert read.shape == (25, 2, 3) if reads == "voltage" else read.shape[:2] == (2, 3)


def test_continuous_output_holds_every_layer_its_counts_and_the_readouts_first_spikes():
    net = build(EVENTS, "spiketime", seed=1, t_max=30.0, truncate=True)
    out = net(torch.rand(2, 4, 1, generator=torch.Generator().manual_seed(0)) * 20)
    assert [tuple(t.shape) for t in out.spikes] == [(2, 6, 3), (2, 3, 3)]
    assert all(torch.equal(c, torch.isfinite(t).sum(-1)) for c, t in zip(out.counts, out.spikes, strict=True))
    assert torch.equal(out.first_spike, out.spikes[-1][..., 0]) and out.voltage is None


def test_grid_weights_are_drawn_layer_by_layer_in_one_documented_order():
    """hidden.0.weight, hidden.0.recurrent, hidden.1.weight (no recurrence), readout.weight, each
    N(mean/√fan_in, (std/√fan_in)²) from one generator: a layer may be recurrent on its own."""
    layers = (Layer(5, recurrent=True, init=WeightInit(1.0, 2.0), recurrent_init=WeightInit(0.5, 0.1)), Layer(4),
              Layer(3, init=WeightInit(-1.0, 0.5)))  # fmt: skip
    spec = NetworkSpec((6,), layers)
    gen = torch.Generator().manual_seed(7)
    draws = [(5, 6, 1.0, 2.0), (5, 5, 0.5, 0.1), (4, 5, 0.0, 1.0), (3, 4, -1.0, 0.5)]
    expected = [
        ((torch.randn(n, m, generator=gen, dtype=torch.float64) * std + mean) / math.sqrt(m)).float()
        for n, m, mean, std in draws
    ]
    weights = init_weights(spec, seed=7)
    assert list(weights) == ["hidden.0.weight", "hidden.0.recurrent", "hidden.1.weight", "readout.weight"]
    assert all(torch.equal(w, e) for w, e in zip(weights.values(), expected, strict=True))
    net = build(spec, "eventprop", seed=7)
    assert net.hidden[0].recurrent is not None and net.hidden[1].recurrent is None


def test_a_mixed_recurrent_stack_has_one_forward_and_readout_gradient_under_bptt_and_eventprop():
    layers = (Layer(8, recurrent=True, init=WeightInit(3.0, 1.0), recurrent_init=WeightInit(0.0, 1.0)),
              Layer(5, init=WeightInit(3.0, 1.0)), Layer(3, "li"))  # fmt: skip
    spec = NetworkSpec((6,), layers, LIFParams(dt=1.0))
    x = (torch.rand(30, 3, 6, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    voltages, grads = [], []
    for engine in ("bptt", "eventprop"):
        net = build(spec, engine, seed=2).double()
        out = net(x)
        assert all(c.sum() > 0 for c in out.counts)  # both hidden layers spike
        losses.compute("sum", out.voltage, torch.tensor([0, 2, 1]), 30.0)[0].backward()
        voltages.append(out.voltage.detach())
        grads.append(net.readout.weight.grad)
    torch.testing.assert_close(voltages[0], voltages[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("spec", "engine", "options", "message"),
    [
        (GRID, "magic", {}, re.escape(f"unknown engine 'magic'; choose one of {list(ENGINES)}")),
        (GRID, "bptt", {"t_max": 10.0}, r"builds a SNN, whose options are .*'active_band'.*; got \['t_max'\]"),
        (EVENTS, "adjoint", {"surrogate": None}, r"builds a EventNet, whose options are .*'t_max'"),
        (
            NetworkSpec((1, 6, 6), (Layer(2, kind="conv", kernel=3), Layer(3, "li"))),
            "bptt",
            {},
            r"grid LIF networks take \('dense',\) layers; layers\[0\] is 'conv'",
        ),
        (
            GRID._replace(layers=(Layer(6, "alif"), Layer(3, "li"))),
            "bptt",
            {},
            r"grid LIF networks take hidden neurons \('lif',\); layers\[0\] is 'alif'",
        ),
        (
            GRID._replace(layers=(Layer(6, threshold=2.0), Layer(3, "li"))),
            "bptt",
            {},
            r"grid LIF networks do not take layers\[0\].threshold",
        ),
        (GRID, "spiketime", {}, r"continuous-time networks take readout neurons \('lif',\); layers\[1\] is 'li'"),
        (
            EVENTS._replace(layers=(Layer(6, recurrent=True), Layer(3))),
            "adjoint",
            {},
            r"continuous-time networks do not take layers\[0\].recurrent",
        ),
        (CELLS, "eventprop", {}, "trains with engine 'bptt'"),
        (
            CELLS._replace(layers=(Layer(6, "alif", recurrent=True, init=WeightInit()), Layer(3, "linear"))),
            "bptt",
            {},
            r"do not take layers\[0\].init",
        ),
        (GRID._replace(layers=()), "bptt", {}, "at least one layer"),
        (GRID._replace(layers=(Layer(0), Layer(3, "li"))), "bptt", {}, r"layers\[0\].size must be positive"),
        (GRID._replace(layers=(Layer(6, "izhikevich"), Layer(3, "li"))), "bptt", {}, r"layers\[0\].neuron must be"),
        (GRID._replace(layers=(Layer(6), Layer(3, "li", recurrent=True))), "bptt", {}, "take no recurrent readout"),
        (
            CELLS._replace(layers=(*CELLS.hidden, Layer(3, "linear", recurrent=True))),
            "bptt",
            {},
            "LIF/ALIF cell networks take no recurrent readout",
        ),
        (CELLS, "spiketime", {}, "continuous-time networks need LIFParams, got CellParams"),
    ],
)
def test_what_a_family_cannot_run_is_refused_by_name(spec, engine, options, message):
    with pytest.raises(ValueError, match=message):
        build(spec, engine, **options)


def test_a_family_built_directly_refuses_another_neuron_model():
    with pytest.raises(ValueError, match="grid LIF networks need LIFParams, got CellParams"):
        SNN(CELLS._replace(layers=(Layer(6), Layer(3, "li"))))
    with pytest.raises(ValueError, match="LIF/ALIF cell networks need CellParams, got LIFParams"):
        SGNet(GRID._replace(layers=(Layer(6, recurrent=True), Layer(3, "linear"))))
