import pytest
import torch

from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN


@pytest.mark.parametrize("recurrent", [False, True])
def test_shapes_and_parameter_names(recurrent):
    spec = dense_stack(5, (7, 4), 3, recurrent=recurrent, neuron=LIFParams(dt=0.5), hidden_init=WeightInit(1.5, 1.0))
    model = SNN(spec)
    out = model(torch.rand(20, 2, 5).round())
    assert out.voltage.shape == (20, 2, 3)
    assert [tuple(z.shape) for z in out.spikes] == [(20, 2, 7), (20, 2, 4)]
    names = {"hidden.0.weight", "hidden.1.weight", "readout.weight"}
    if recurrent:
        names |= {"hidden.0.recurrent", "hidden.1.recurrent"}
    assert set(dict(model.named_parameters())) == names


def test_gradients_reach_every_parameter():
    spec = dense_stack(5, (8,), 3, recurrent=True, hidden_init=WeightInit(3.0, 1.0))
    model = SNN(spec)
    out = model(torch.ones(30, 2, 5))
    out.voltage.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_inputs_raise_clear_errors():
    spec = dense_stack(5, (8,), 3)
    with pytest.raises(ValueError, match=r"expected input spikes \[T, B, 5\]"):
        SNN(spec)(torch.zeros(10, 5))
    with pytest.raises(ValueError, match="unknown engine"):
        SNN(spec, engine="magic")
    with pytest.raises(ValueError, match="tau_mem"):
        SNN(spec._replace(neuron=LIFParams(tau_mem=-2.0)))
