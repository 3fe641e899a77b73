"""What the notebooks do between their parameters and the training loop (spikegrad.runs and the studies' run
modules): one source of defaults shown by each notebook, the splits, and the network, configuration, hooks and
record each build makes."""

import math
from pathlib import Path

import nbformat
import pytest
import torch

from spikegrad.data import load
from spikegrad.eventnet import EventNet
from spikegrad.hooks import RatePenalty, Rewire, SparsityPenalty, TrackChanges
from spikegrad.network import SNN
from spikegrad.runs import GridRun, build_grid, load_splits, parameters
from spikegrad.sgnet import SGNet
from spikegrad.studies.multispike.run import EventRun
from spikegrad.studies.multispike.run import build as build_event
from spikegrad.studies.surrogate.run import SurrogateRun
from spikegrad.studies.surrogate.run import build as build_surrogate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RUNS = {"train": GridRun, "multispike": EventRun, "surrogate": SurrogateRun}


def parameter_cell(name: str) -> dict:
    cells = nbformat.read(NOTEBOOKS / f"{name}.ipynb", 4).cells
    cell = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


@pytest.mark.parametrize("name", RUNS)
def test_each_notebook_shows_its_run_records_defaults(name):
    assert parameter_cell(name) == RUNS[name]()._asdict()


def test_parameters_take_the_notebooks_variables_and_refuse_a_device_this_machine_lacks():
    namespace = {**GridRun()._asdict(), "lr": 0.5, "unrelated": 1}
    assert parameters(GridRun, namespace) == GridRun(lr=0.5)
    with pytest.raises(ValueError, match="cuda"):
        parameters(GridRun, {**namespace, "device": "cuda:7"})


def test_load_splits_cuts_the_training_split_and_preprocesses_every_split():
    data = load_splits("yinyang", max_train=30, preprocess=[["crop_time", {"t_max": 1.0}]])
    assert list(data) == ["train", "validation", "test"] and len(data["train"]) == 30
    assert len(data["test"]) == len(load("yinyang", "test"))
    assert all(d.meta["transforms"] for d in data.values())


def test_build_grid_makes_the_network_configuration_hooks_and_record():
    train = load("yinyang", "train").subset(range(40))
    run = GridRun(hidden=[12, 8], recurrent=True, loss="first_spike_exp", engine="eventprop", dt=1.0, trial_ms=50.0,
                  tau0=1.0, reg_upper=1e-3, rewire=0.5, track_changes=True, epochs=2, lr=0.01)  # fmt: skip
    model, cfg, hooks, record = build_grid(run, train)
    assert isinstance(model, SNN) and [layer.size for layer in model.spec.hidden] == [12, 8]
    assert all(layer.recurrent for layer in model.spec.hidden) and model.spec.readout.neuron == "lif"
    assert model.dt == 1.0 and model.spec.n_in == train.n_units and model.spec.readout.size == train.n_classes
    assert (cfg.epochs, cfg.lr, cfg.loss, cfg.n_steps, cfg.loss_params.tau0) == (2, 0.01, "first_spike_exp", 50, 1.0)
    assert [type(h) for h in hooks] == [RatePenalty, TrackChanges, Rewire]
    assert record["network"]["dt"] == 1.0 and record["engine"] == "eventprop" and record["device"] == "cpu"
    assert build_grid(GridRun(), train)[2] == [] and math.isinf(build_grid(GridRun(), train)[0].options.active_band)


def test_build_event_makes_a_continuous_time_network_with_its_loss_parameters():
    train = load("digits", "train").subset(range(20))
    conv = [{"kind": "conv", "size": 2, "kernel": 3}, {"kind": "pool", "size": 2}, {"kind": "dense", "size": 10}]
    run = EventRun(layers=conv, loss="ttfs", tau_loss=2.0, engine="adjoint")
    model, cfg, hooks, record = build_event(run, train)
    assert isinstance(model, EventNet) and model.engine == "adjoint" and model.spec.input_shape == (1, 8, 8)
    assert cfg.loss == "ttfs" and cfg.loss_params.tau0 == 2.0 and hooks == [] and record["layers"] == conv
    dense = build_event(EventRun(), train)[0]
    assert dense.spec.input_shape == (train.n_units,) and dense.layers[0].weight.dtype == torch.float32


def test_build_surrogate_stabilises_sets_the_initial_rate_and_records_it():
    data = load_splits("digits", max_train=64)
    run = SurrogateRun(hidden=[64], conditions="I+II", initial_rate=0.1, rate_epochs=2, sparsity=1.0, batch_size=16)
    model, cfg, hooks, record = build_surrogate(run, data)
    assert isinstance(model, SGNet) and cfg.loss == "avg_xentropy" and cfg.batch_size == 16
    assert [type(h) for h in hooks] == [SparsityPenalty]
    assert 0 < record["rate_initial_l1"] < 1 and {"predicted_sharpness", "input_mean", "used_sharpness"} <= set(record)
    assert build_surrogate(SurrogateRun(hidden=[16]), data)[2] == []  # no sparsity loss, no hook
