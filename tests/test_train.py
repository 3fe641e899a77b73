import math

import numpy as np
import pandas as pd
import pytest
import torch

import spikegrad.train as train_module
from spikegrad import results
from spikegrad.data import load
from spikegrad.data.augment import Transform
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN
from spikegrad.train import TrainConfig, check_config, fit, learning_rate

CFG = TrainConfig(epochs=3, batch_size=32, lr=0.01, loss="max", schedule="exponential", lr_decay=0.9)


@pytest.fixture(scope="module")
def data():
    full = {split: load("yinyang", split) for split in ("train", "validation", "test")}
    return (
        full["train"].subset(range(150)),
        full["validation"].subset(range(70)),
        full["test"].subset(range(70)),
    )


def model():
    spec = dense_stack(5, (20,), 3, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(5.0, 2.5))
    return SNN(spec, seed=1)


def test_fit_writes_complete_finite_results(tmp_path, data):
    metrics = fit(model(), *data, CFG, tmp_path, record={"dataset": "yinyang"}, progress=False)
    on_disk = results.read_json(tmp_path / "metrics.json")
    assert on_disk["test_accuracy"] == metrics["test_accuracy"]
    assert on_disk["n_test"] == 70 and on_disk["dataset"] == "yinyang"  # every test sample, partial batch too
    assert on_disk["versions"]["torch"] == torch.__version__
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["lr"].tolist() == pytest.approx([0.01, 0.009, 0.0081])
    assert history.drop(columns="lr").map(math.isfinite).all().all()
    assert metrics["best_val_accuracy"] == history["val_accuracy"].max()
    assert (tmp_path / "weights.safetensors").exists()


def test_training_learns_yinyang(tmp_path, data):
    train = load("yinyang", "train").subset(range(1000))
    validation = load("yinyang", "validation").subset(range(300))
    metrics = fit(model(), train, validation, data[2], CFG._replace(epochs=6), tmp_path, progress=False)
    assert metrics["best_val_accuracy"] > 0.65  # chance is 1/3; this run reaches 0.78


def test_resumed_run_ends_with_the_same_metrics(tmp_path, data, kill_evaluation):
    reference = fit(model(), *data, CFG, tmp_path / "straight", progress=False)
    restore = kill_evaluation(train_module)
    with pytest.raises(KeyboardInterrupt):
        fit(model(), *data, CFG, tmp_path / "resumed", progress=False)
    assert not (tmp_path / "resumed" / "metrics.json").exists()  # an interrupted run never looks complete
    assert len(pd.read_csv(tmp_path / "resumed" / "history.csv")) == 1
    restore()
    resumed = fit(model(), *data, CFG, tmp_path / "resumed", progress=False)
    for key in ("test_accuracy", "test_loss", "best_epoch", "best_val_accuracy", "final_train_accuracy"):
        assert resumed[key] == reference[key], key
    straight = pd.read_csv(tmp_path / "straight" / "history.csv").drop(columns="seconds")
    again = pd.read_csv(tmp_path / "resumed" / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(straight, again)


def test_rerun_of_a_finished_checkpoint_rewrites_the_removed_outputs(tmp_path, data):
    first = fit(model(), *data, CFG, tmp_path, progress=False)
    history = (tmp_path / "history.csv").read_text()
    for name in ("history.csv", "metrics.json", "weights.safetensors"):  # as snakemake removes a killed job's outputs
        (tmp_path / name).unlink()
    again = fit(model(), *data, CFG, tmp_path, progress=False)
    assert (tmp_path / "history.csv").read_text() == history and again["test_loss"] == first["test_loss"]
    assert (tmp_path / "weights.safetensors").exists()


def test_augmentation_is_applied_per_epoch_and_resumes_identically(tmp_path, data, monkeypatch):
    cfg = CFG._replace(epochs=2, augment=(Transform("shift_channels", {"max_shift": 1}),))
    seen = []
    real_inputs = train_module.GridTask.inputs
    monkeypatch.setattr(train_module.GridTask, "inputs", lambda task, d, i: seen.append(d) or real_inputs(task, d, i))
    fit(model(), *data, cfg, tmp_path, progress=False)
    shifted = {id(d): d for d in seen if d.meta.get("transforms")}
    assert len(shifted) == 2  # one augmented copy of the training split per epoch
    first, second = shifted.values()
    assert len(first) == len(data[0]) and not np.array_equal(first.units, second.units)
    with pytest.raises(ValueError, match="unknown transform"):
        check_config(CFG._replace(augment=(Transform("mirror", {}),)))


def test_checkpoint_of_another_configuration_is_set_aside_and_the_run_starts_afresh(tmp_path, data):
    changed = CFG._replace(epochs=1, lr=0.5)
    fresh = fit(model(), *data, changed, tmp_path / "fresh", progress=False)
    fit(model(), *data, CFG._replace(epochs=1), tmp_path / "reused", progress=False)
    with pytest.warns(UserWarning, match="checkpoint of another configuration; moved it to checkpoint.stale"):
        again = fit(model(), *data, changed, tmp_path / "reused", progress=False)
    assert again["test_loss"] == fresh["test_loss"] and again["train_config"]["lr"] == 0.5
    assert (tmp_path / "reused" / "checkpoint.stale.safetensors").exists()


def test_unreadable_checkpoint_is_set_aside(tmp_path, data):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        fit(model(), *data, CFG._replace(epochs=1), tmp_path, progress=False)
    assert (tmp_path / "checkpoint.stale.safetensors").read_bytes() == b"\x00garbage"
    assert (tmp_path / "metrics.json").exists()


def test_a_rerun_removes_the_old_metrics_until_it_finishes(tmp_path, data, kill_evaluation):
    fit(model(), *data, CFG._replace(epochs=1), tmp_path, progress=False)
    kill_evaluation(train_module, call=1)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="another configuration"):
        fit(model(), *data, CFG._replace(epochs=1, lr=0.5), tmp_path, progress=False)
    assert not (tmp_path / "metrics.json").exists()  # the old run's result does not pass for the new one


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, data):
    net = model()
    with torch.no_grad():
        net.readout.weight.fill_(math.inf)
    with pytest.raises(FloatingPointError, match="non-finite loss .* epoch 0 batch 0"):
        fit(net, *data, CFG, tmp_path, progress=False)
    assert not (tmp_path / "metrics.json").exists()


def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    real, calls = train_module.GridTask.loss, []

    def diverging(*args):
        loss, logits = real(*args)
        calls.extend([1] if torch.is_grad_enabled() else [])  # training batches, not evaluation
        return (loss * math.nan if len(calls) > 5 else loss), logits  # 5 batches per epoch

    monkeypatch.setattr(train_module.GridTask, "loss", diverging)
    with pytest.raises(FloatingPointError, match="epoch 1 batch 0; the last good checkpoint is .*checkpoint"):
        fit(model(), *data, CFG, tmp_path, progress=False)
    tensors, meta = results.load_tensors(tmp_path / "checkpoint.safetensors")
    assert [row["epoch"] for row in meta["history"]] == [1] and len(pd.read_csv(tmp_path / "history.csv")) == 1
    monkeypatch.setattr(train_module.GridTask, "loss", real)
    resumed = fit(model(), *data, CFG, tmp_path, progress=False)  # the run goes on from the good checkpoint
    assert resumed["test_loss"] == fit(model(), *data, CFG, tmp_path / "straight", progress=False)["test_loss"]


@pytest.mark.parametrize(
    "bad",
    [dict(lr=0.0), dict(lr=math.nan), dict(batch_size=0), dict(epochs=0), dict(loss="nope"), dict(betas=(1.0, 0.9))],
)
def test_invalid_config_is_rejected(bad):
    with pytest.raises(ValueError):
        check_config(CFG._replace(**bad))


def test_cosine_schedule_ends_near_zero():
    cfg = CFG._replace(schedule="cosine", epochs=10)
    assert learning_rate(cfg, 0) == cfg.lr
    assert learning_rate(cfg, 9) < 0.03 * cfg.lr


def test_sparse_training_records_the_active_fraction_per_layer(tmp_path, data):
    spec = dense_stack(5, (20, 10), 3, neuron=LIFParams(dt=1.0, reset="subtract"), hidden_init=WeightInit(5.0, 2.5))
    net = SNN(spec, engine="sparse", seed=1, active_band=0.2)
    fit(net, *data, CFG._replace(epochs=2), tmp_path, progress=False)
    history = pd.read_csv(tmp_path / "history.csv")
    for k in (1, 2):
        assert ((history[f"active_l{k}"] > 0) & (history[f"active_l{k}"] < 1)).all()
    dense = tmp_path / "dense"
    fit(SNN(spec, seed=1), *data, CFG._replace(epochs=1), dense, progress=False)
    assert not any(c.startswith("active_l") for c in pd.read_csv(dense / "history.csv"))
