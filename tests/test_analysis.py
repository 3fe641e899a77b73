"""The gradient-flow analysis: with a constant drive (`sum`) no error signal reaches early hidden spikes; loss
shaping (`sum_weigh_exp`) sends one through the whole trial (Nowotny et al.'s mechanism)."""

import pytest
import torch

from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN
from spikegrad.studies.eventprop.gradient_flow import gradient_flow


def test_loss_shaping_sends_error_signal_through_the_whole_trial():
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 4, 10, generator=gen) < 0.05).double()
    net = SNN(dense_stack(10, (8,), 3, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(3.0, 1.0)), engine="eventprop")
    net = net.double()
    labels = torch.tensor([0, 1, 2, 0])
    flow = {loss: gradient_flow(net, x, labels, loss) for loss in ("sum", "sum_weigh_exp")}
    for table in flow.values():
        assert len(table) == 300 and (table[["error_signal", "input_gradient"]] >= 0).all().all()
    early = slice(0, 100)  # more than 10 τ_m before the trial's end
    plain, shaped = flow["sum"]["error_signal"], flow["sum_weigh_exp"]["error_signal"]
    assert plain[early].max() < 1e-3 * plain.max()  # decays as e^{-(T - t)/τ_m} away from the end
    assert shaped[early].min() > 1e-2 * shaped.max()
    assert all(p.grad is None for p in net.parameters())  # the analysis leaves no gradients behind


def test_gradient_flow_rejects_other_networks():
    with pytest.raises(ValueError, match="EventProp network"):
        gradient_flow(SNN(dense_stack(3, (4,), 2)), torch.zeros(5, 1, 3), torch.tensor([0]), "sum")


def test_untrained_network_is_the_runs_initialisation_rebuilt_from_its_record():
    from spikegrad.data import load
    from spikegrad.runs import GridRun, build_grid
    from spikegrad.studies.eventprop.gradient_flow import untrained_network
    from spikegrad.train import config_record

    data = load("yinyang", "test")
    run = GridRun(engine="eventprop", loss="sum_weigh_exp", hidden=[12], recurrent=True, reset="subtract", seed=3)
    model, cfg, _, record = build_grid(run, data)
    rebuilt = untrained_network({**record, "train_config": config_record(cfg)}, data)
    assert rebuilt.spec == model.spec
    for name, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], value), name
