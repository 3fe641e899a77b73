"""Training options of the surrogate-gradient study (spikegrad.hooks, spikegrad.studies.surrogate): the sparsity
loss and its switch, the
initial-rate adjustment, and a training run of the recurrent LIF network."""

import pytest
import torch

from spikegrad.data import load
from spikegrad.hooks import SparsityPenalty, sparsity_switch
from spikegrad.losses import sparsity_penalty
from spikegrad.model import dense_stack
from spikegrad.sgnet import CellParams, SGNet
from spikegrad.studies.surrogate.prepare import adjust_initial_rate
from spikegrad.surrogate import SurrogateParams
from spikegrad.train import TrainConfig, evaluate, fit


@pytest.fixture(scope="module")
def digits():
    full = {split: load("digits", split) for split in ("train", "validation", "test")}
    return full["train"].subset(range(128)), full["validation"].subset(range(64)), full["test"].subset(range(64))


def network(seed=0):
    spec = dense_stack(64, (24,), 10, recurrent=True, readout="linear", neuron=CellParams(dt=1.0))
    return SGNet(spec, "bptt", seed, surrogate=SurrogateParams("fast_sigmoid", 1.0, 0.5))


def test_sparsity_switch_is_off_then_ramps_then_full():
    assert [sparsity_switch(e, 10) for e in range(10)] == pytest.approx([0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1])


def test_sparsity_penalty_by_hand():
    z1 = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], requires_grad=True)  # ⟨z⟩ = 0.25
    z2 = torch.zeros(3, 1, 4)  # ⟨z⟩ = 0
    value = sparsity_penalty([z1, z2], target=0.05)
    assert value.item() == pytest.approx(0.2**2 + 0.05**2)
    value.backward()
    assert torch.allclose(z1.grad, torch.full_like(z1, 2 * 0.2 / 4))


def test_bad_sparsity_settings_are_rejected():
    with pytest.raises(ValueError, match="sparsity_target"):
        SparsityPenalty(1.0, target=1.5)
    with pytest.raises(ValueError, match="sparsity weight"):
        SparsityPenalty(-1.0, target=0.01)


@pytest.mark.parametrize("target", [0.02, 0.3])
def test_initial_rate_adjustment_moves_every_layer_to_the_target(digits, target):
    train = digits[0]
    cfg = TrainConfig(epochs=1, batch_size=32, lr=1e-3, loss="avg_xentropy")
    net = network()
    before = evaluate(net, train, cfg)["layer_rates"][0]
    weights = {k: v.clone() for k, v in net.state_dict().items() if "bias" not in k}
    adjust_initial_rate(net, train, cfg, target, epochs=25, lr=0.05)
    after = evaluate(net, train, cfg)["layer_rates"][0]
    assert abs(after - target) < 0.3 * abs(before - target)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in weights.items())  # only biases changed
    with pytest.raises(ValueError, match="spike probability"):
        adjust_initial_rate(net, train, cfg, 0.0)


def test_training_learns_and_the_sparsity_loss_lowers_the_rate(digits, tmp_path):
    train, validation, test = digits
    rates, accuracy = {}, {}
    for weight in (0.0, 50.0):
        cfg = TrainConfig(
            epochs=6,
            batch_size=16,
            lr=2e-2,
            schedule="constant",
            loss="avg_xentropy",
        )
        hooks = [SparsityPenalty(weight, target=0.0)]
        metrics = fit(network(), train, validation, test, cfg, tmp_path / str(weight), progress=False, hooks=hooks)
        rates[weight] = metrics["rate_final_l1"]
        accuracy[weight] = metrics["final_train_accuracy"]
    assert accuracy[0.0] > 0.5  # chance is 0.1
    assert rates[50.0] < 0.7 * rates[0.0]
