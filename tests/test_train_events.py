"""Training continuous-time networks with the one training loop (spikegrad.train.EventTask): results files,
learning on Yin-Yang, resume, the per-layer statistics, the losses' gradients (one gradient with every exact
engine) and bad configurations."""

import math

import pandas as pd
import pytest
import torch

import spikegrad.train as train_module
from spikegrad import results
from spikegrad.data import load
from spikegrad.eventnet import EventNet
from spikegrad.losses import LossParams, compute, read, spike_count_loss
from spikegrad.model import Layer, LIFParams, NetworkSpec, WeightInit
from spikegrad.train import TrainConfig, evaluate, fit

CFG = TrainConfig(2, 32, 3e-3, schedule="exponential", loss="ttfs", loss_params=LossParams(tau0=2.0))
COUNTS = LossParams(tau0=2.0, target_true=4.0, target_false=1.0)
NEURON = LIFParams(tau_mem=10.0, tau_syn=5.0)


@pytest.fixture(scope="module")
def data():
    full = {split: load("yinyang", split) for split in ("train", "validation", "test")}
    return full["train"].subset(range(96)), full["validation"].subset(range(40)), full["test"].subset(range(45))


def model(max_spikes: int = 1, out_mean: float = 3.0) -> EventNet:
    layers = (
        Layer(12, threshold=1.0, max_spikes=max_spikes, init=WeightInit(3.0, 1.0)),
        Layer(3, threshold=1.0, max_spikes=max_spikes, init=WeightInit(out_mean, 1.0)),
    )
    return EventNet(NetworkSpec((5,), layers, NEURON), seed=1, t_max=50.0, truncate=True)


def test_fit_writes_complete_results_with_layer_statistics(tmp_path, data):
    metrics = fit(model(), *data, CFG, tmp_path, record={"dataset": "yinyang"}, progress=False)
    on_disk = results.read_json(tmp_path / "metrics.json")
    assert on_disk["test_accuracy"] == metrics["test_accuracy"] and on_disk["n_test"] == 45
    for key in ("test_spikes_l1", "test_silent_l2", "test_saturated_l1", "test_latency", "seconds_per_epoch"):
        assert math.isfinite(on_disk[key]), key
    assert 0 <= on_disk["test_silent_l1"] <= 1 and 0 <= on_disk["test_saturated_l2"] <= 1
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert {"val_accuracy", "val_spikes_l1", "val_silent_l2", "seconds"} <= set(history.columns)


def test_statistics_count_spikes_silent_and_saturated_neurons(data):
    net = model(max_spikes=2)
    stats = evaluate(net, data[1], CFG._replace(loss="spike_count"))
    x, _ = data[1].to_padded(dtype=torch.float32)
    with torch.no_grad():
        counts = [torch.isfinite(t).sum(-1) for t in net(x).spikes]
    assert stats["spikes_l1"] == pytest.approx(counts[0].sum().item() / len(data[1]))
    assert stats["silent_l2"] == pytest.approx((counts[1].sum(0) == 0).float().mean().item())
    assert stats["saturated_l1"] == pytest.approx((counts[0] == 2).float().mean().item())


def test_training_learns_yinyang_with_both_losses(tmp_path, data):
    for loss, k, out_mean in (("ttfs", 1, 3.0), ("spike_count", 6, 0.5)):
        cfg = CFG._replace(epochs=4, lr=1e-2, loss=loss, loss_params=COUNTS)
        net = model(k, out_mean)
        before = evaluate(net, data[0], cfg)["loss"]
        fit(net, *data, cfg, tmp_path / loss, progress=False)
        assert evaluate(net, data[0], cfg)["loss"] < before


def test_resumed_run_ends_with_the_same_metrics(tmp_path, data, kill_evaluation):
    reference = fit(model(), *data, CFG, tmp_path / "straight", progress=False)
    restore = kill_evaluation(train_module)
    with pytest.raises(KeyboardInterrupt):
        fit(model(), *data, CFG, tmp_path / "resumed", progress=False)
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    restore()
    resumed = fit(model(), *data, CFG, tmp_path / "resumed", progress=False)
    for key in ("test_accuracy", "test_loss", "best_epoch", "best_val_accuracy"):
        assert resumed[key] == reference[key], key


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    real, calls = train_module.EventTask.loss, []

    def diverging(*args):
        loss, logits = real(*args)
        calls.extend([1] if torch.is_grad_enabled() else [])  # training batches, not evaluation
        return (loss * math.nan if len(calls) > batches else loss), logits

    batches = math.ceil(len(data[0]) / CFG.batch_size)
    monkeypatch.setattr(train_module.EventTask, "loss", diverging)
    with pytest.raises(FloatingPointError, match="epoch 1 batch 0; the last good checkpoint is .*checkpoint"):
        fit(model(), *data, CFG, tmp_path, progress=False)
    _, progress = results.load_tensors(tmp_path / "checkpoint.safetensors")
    assert [row["epoch"] for row in progress["history"]] == [1] and not (tmp_path / "metrics.json").exists()


def test_spike_count_loss_gives_each_spike_the_count_error():
    times = torch.tensor([[[1.0, 2.0, math.inf], [3.0, math.inf, math.inf]]], requires_grad=True)
    loss, logits = spike_count_loss(times, torch.tensor([0]), target_true=5.0, target_false=0.0)
    assert loss.item() == pytest.approx(0.5 * ((5 - 2) ** 2 + (0 - 1) ** 2))
    loss.backward()
    assert times.grad.tolist() == [[[3.0, 3.0, 0.0], [-1.0, 0.0, 0.0]]]  # ∂L/∂t := n̂ − n at each spike
    assert logits.argmax(-1).item() == 0


def test_count_ties_go_to_the_earliest_first_spike():
    times = torch.tensor([[[4.0, math.inf], [2.0, math.inf], [math.inf, math.inf]]])
    assert spike_count_loss(times, torch.tensor([0]), 1.0, 0.0)[1].argmax(-1).item() == 1


@pytest.mark.parametrize(
    "bad, message",
    [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"lr": math.nan}, "lr"),
     ({"loss": "max"}, "reads 'voltage' but this network reports 'spike_times'"),
     ({"loss_params": LossParams(tau0=0.0)}, "tau0")],
)  # fmt: skip
def test_invalid_config_is_rejected(data, bad, message):
    with pytest.raises(ValueError, match=message):
        fit(model(), *data, CFG._replace(**bad), "unused", progress=False)


@pytest.mark.parametrize("loss", ["ttfs", "spike_count"])
def test_every_event_loss_gives_one_gradient_with_every_engine(data, loss):
    """The losses are plain torch functions of the output spike times, so the three exact engines agree on them."""
    x, _ = data[1].to_padded(indices=range(6), dtype=torch.float64)
    labels = torch.as_tensor(data[1].labels[:6])
    layers = (Layer(8, max_spikes=4, init=WeightInit(3.0, 1.0)), Layer(3, max_spikes=4, init=WeightInit(3.0, 1.0)))
    spec = NetworkSpec((5,), layers, NEURON)
    grads = {}
    for engine in ("spiketime", "adjoint", "forwardprop"):
        net = EventNet(spec, engine, seed=2, t_max=50.0, truncate=True, dtype=torch.float64)
        value, _ = compute(loss, read(loss, net(x)), labels, net.t_max, COUNTS)
        value.backward()
        grads[engine] = [layer.weight.grad for layer in net.layers]
    assert all(g.abs().max() > 0 for g in grads["spiketime"])
    for engine in ("adjoint", "forwardprop"):
        for mine, ref in zip(grads[engine], grads["spiketime"], strict=True):
            torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-12)
