"""Training options of the EventProp study (spikegrad.train, spikegrad.hooks) and the spike-time losses."""

import math

import pandas as pd
import pytest
import torch

from spikegrad.data import load
from spikegrad.hooks import RatePenalty, Rewire, TrackChanges
from spikegrad.losses import FirstSpikeParams, RateRegularizer, first_spike_loss, rate_penalty
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN
from spikegrad.train import TrainConfig, _update_halving, fit, learning_rate


@pytest.fixture(scope="module")
def data():
    full = {split: load("yinyang", split) for split in ("train", "validation", "test")}
    return full["train"].subset(range(96)), full["validation"].subset(range(40)), full["test"].subset(range(40))


def model(readout="li", hidden_mean=5.0):
    init = WeightInit(13.0, 1.0) if readout == "lif" else WeightInit()
    spec = dense_stack(5, (20,), 3, readout=readout, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(hidden_mean, 2.5),
                       readout_init=init)  # fmt: skip
    return SNN(spec, engine="eventprop", seed=1)


def test_first_spike_loss_by_hand_and_the_phantom_gradient():
    t = torch.tensor([[2.0, math.inf, 5.0]], dtype=torch.float64, requires_grad=True)
    p = FirstSpikeParams(tau0=1.0, tau1=4.0, alpha=0.1)
    loss, logits = first_spike_loss("first_spike_exp", t, torch.tensor([1]), 10.0, p)
    filled = [2.0, 10.0, 5.0]  # the silent correct neuron counts as t = T
    ce = filled[1] + math.log(sum(math.exp(-v) for v in filled))
    assert loss.item() == pytest.approx(ce + 0.1 * math.expm1(10.0 / 4.0))
    assert logits.tolist() == [[-2.0, -10.0, -5.0]]
    loss.backward()
    # the silent correct neuron gets only the regulariser's gradient (the phantom spike), at t = T
    assert t.grad[0, 1].item() == pytest.approx(0.1 / 4.0 * math.exp(10.0 / 4.0))
    assert t.grad[0, 0].item() < 0 < t.grad[0, 2].item() + 1  # the wrong earliest neuron is pushed later
    loss2, _ = first_spike_loss("first_spike", t.detach(), torch.tensor([0]), 10.0, p)
    p0 = math.exp(-2.0) / sum(math.exp(-v) for v in filled)
    assert loss2.item() == pytest.approx(-math.log(p0) + 0.1 / (10.1 - 2.0))


def test_rate_penalty_and_its_gradient():
    counts = torch.tensor([[10.0, 20.0], [14.0, 30.0]], requires_grad=True)  # batch means 12 and 25
    reg = RateRegularizer(nu=14.0, upper=2.0, lower=0.5)
    value = rate_penalty([counts], reg)
    assert value.item() == pytest.approx(0.5 * 0.5 * 2.0**2 + 0.5 * 2.0 * 11.0**2)
    value.backward()
    assert counts.grad.tolist() == [[0.5 * -2.0 / 2, 2.0 * 11.0 / 2]] * 2  # c (N̄ − ν)/N_batch


def test_ttfs_training_with_eventprop_learns(tmp_path):
    # Wunderlich & Pehle's Yin-Yang set-up (N(1.5, 0.78), N(0.93, 0.1) raw), smaller
    train, validation = load("yinyang", "train").subset(range(480)), load("yinyang", "validation").subset(range(150))
    spec = dense_stack(5, (60,), 3, readout="lif", neuron=LIFParams(dt=0.5), hidden_init=WeightInit(3.35, 1.74),
                       readout_init=WeightInit(7.2, 0.77))  # fmt: skip
    net = SNN(spec, engine="eventprop")
    cfg = TrainConfig(epochs=8, batch_size=32, lr=1e-2, loss="first_spike_exp", schedule="constant")
    metrics = fit(net, train, validation, validation, cfg, tmp_path, progress=False)
    assert metrics["best_val_accuracy"] > 0.7  # chance is 1/3; this run reaches 0.83


def test_loss_needs_the_matching_readout(tmp_path, data):
    with pytest.raises(ValueError, match="reads 'first_spike' but this network reports 'voltage'"):
        fit(model("li"), *data, TrainConfig(1, 32, 1e-2, loss="first_spike"), tmp_path, progress=False)


def test_ease_in_regulariser_rewiring_and_spike_changes(tmp_path, data):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, loss="sum", schedule="constant", ease_in=True)
    hooks = [RatePenalty(2.0, 1e-3, 1e-3), TrackChanges(), Rewire(0.5)]
    net = model(hidden_mean=0.0)
    silent_before = net.hidden[0].weight.detach().clone()
    metrics = fit(net, *data, cfg, tmp_path, progress=False, hooks=hooks)
    assert metrics["hooks"] == [  # the options are recorded with the run, after fit's own ActiveFraction
        {"hook": "ActiveFraction"}, {"hook": "RatePenalty", "nu": 2.0, "upper": 1e-3, "lower": 1e-3},
        {"hook": "TrackChanges"}, {"hook": "Rewire", "amount": 0.5}]  # fmt: skip
    history = pd.read_csv(tmp_path / "history.csv")
    assert {"spikes_created", "spikes_deleted"} <= set(history.columns)
    assert (history[["spikes_created", "spikes_deleted"]] >= 0).all().all()
    # ease-in: 3 batches per epoch, η/1000 · 1.05^k ≪ η, so the weights barely moved except through rewiring
    moved = (net.hidden[0].weight.detach() - silent_before).abs()
    assert moved.max() > 0.4  # +0.5 per epoch to silent neurons' incoming weights


def test_ema_halving_schedule():
    state = {"fast": None, "slow": None, "halvings": 0, "last_halving": 0, "batches": 0}
    for epoch, acc in enumerate([0.5, 0.6, 0.7, 0.6, 0.5, 0.4]):
        _update_halving(state, acc, epoch, every=2)
    assert state["halvings"] >= 1 and state["fast"] <= state["slow"]
    assert learning_rate(TrainConfig(1, 32, lr=0.1, schedule="ema_halving"), 5, state["halvings"]) < 0.1


def test_spike_changes_count_created_and_deleted_not_moved():
    from spikegrad.network import NetworkOutput

    before = torch.tensor([[1.0, 2.0, 0.0]])  # spikes per neuron [B, N] before the update
    after = torch.tensor([[1.0, 0.0, 3.0]])  # neuron 0's spike moved; neuron 1 lost both; neuron 2 gained 3
    hook = TrackChanges()
    hook.after_step(lambda x: NetworkOutput(None, None, [], [after]), None, NetworkOutput(None, None, [], [before]))
    assert hook.end_epoch(None, n_batches=2) == {"spikes_created": 1.5, "spikes_deleted": 1.0}  # per batch
    assert hook.changes == {"created": 0.0, "deleted": 0.0}  # the next epoch counts afresh


def test_fit_trains_time_constants_within_bounds(tmp_path, data):
    spec = dense_stack(5, (20,), 3, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(5.0, 2.5))
    net = SNN(spec, engine="eventprop", seed=1, train_tau=True)
    fit(net, *data, TrainConfig(epochs=1, batch_size=32, lr=0.5, loss="sum"), tmp_path, progress=False)
    tau_mem, tau_syn = net.hidden[0].tau_mem.detach(), net.hidden[0].tau_syn.detach()
    assert (tau_mem != 20.0).any() and tau_mem.min() >= 3.0 and tau_syn.min() >= 1.0
