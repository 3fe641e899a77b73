"""What ``notebooks/multispike.ipynb`` does between its parameters and :func:`spikegrad.train.fit`: a
continuous-time network (:func:`spikegrad.network.build`: dense, convolutional and pooling layers) with one
exact engine, its training configuration and the record stored in ``metrics.json`` (:func:`build`)."""

from typing import NamedTuple

import torch

from spikegrad.data import SpikeData
from spikegrad.device import available_device
from spikegrad.engines import CONTINUOUS_ENGINES, get_engine
from spikegrad.eventnet import EventNet
from spikegrad.losses import LossParams
from spikegrad.model import Layer, LIFParams, NetworkSpec, WeightInit
from spikegrad.network import build as build_network
from spikegrad.runs import train_config
from spikegrad.train import TrainConfig


class EventRun(NamedTuple):
    """Parameters of ``notebooks/multispike.ipynb``."""

    dataset: str = "digits"  # spikegrad.data.DATASETS
    data_root: str | None = None  # folder of prepared data (None: generate in memory)
    data_options: dict = {}  # keyword arguments of spikegrad.data.load (e.g. MNIST's t_trial, the input span)
    max_train: int | None = None  # use only the first N training samples
    layers: list = [  # spikegrad.model.Layer fields, the weights' init as init_mean, init_std (layer_of)
        {"kind": "dense", "size": 100, "threshold": 1.0, "max_spikes": 10, "init_mean": 0.0, "init_std": 5.0},
        {"kind": "dense", "size": 10, "threshold": 1.0, "max_spikes": 10, "init_mean": 2.0, "init_std": 1.0},
    ]
    tau_syn: float = 26.0  # ms
    tau_mem: float = 52.0  # ms: 2*tau_syn or tau_syn
    t_max: float = 40.0  # ms, end of the simulation
    truncate: bool = True  # a neuron falls silent after max_spikes spikes
    engine: str = "spiketime"  # spikegrad.engines.CONTINUOUS_ENGINES
    loss: str = "spike_count"  # ttfs or spike_count
    lr: float = 1e-2
    schedule: str = "constant"
    lr_decay: float = 1.0
    epochs: int = 10
    batch_size: int = 64
    tau_loss: float = 1.0  # ms, ttfs
    target_true: float = 8.0  # spike_count
    target_false: float = 2.0
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "results/scratch/multispike"
    progress: bool = True


def layer_of(fields: dict) -> Layer:
    """The :class:`~spikegrad.model.Layer` of one entry of ``EventRun.layers``: ``init_mean`` and ``init_std``
    (default 1, 1: :mod:`spikegrad.eventnet`) give its ``init``."""
    fields = dict(fields)
    init = WeightInit(fields.pop("init_mean", 1.0), fields.pop("init_std", 1.0))
    return Layer(**fields, init=init)


def build(run: EventRun, train: SpikeData) -> tuple[EventNet, TrainConfig, list, dict]:
    """(network on ``run.device``, training configuration, hooks (none), record) of ``run`` for a training split
    like ``train``; a convolutional first layer sees the images (``meta["image_shape"]``), a dense one the
    channels."""
    device = str(available_device(run.device))
    get_engine(run.engine, CONTINUOUS_ENGINES)  # a grid engine is refused by name
    layers = tuple(layer_of(layer) for layer in run.layers)
    first = next(layer for layer in layers if layer.kind != "pool")
    input_shape = (1, *train.meta["image_shape"]) if first.kind == "conv" else (train.n_units,)
    spec = NetworkSpec(input_shape, layers, LIFParams(tau_mem=run.tau_mem, tau_syn=run.tau_syn))
    model = build_network(spec, run.engine, run.seed, t_max=run.t_max, truncate=run.truncate, dtype=torch.float32)
    model = model.to(device)
    params = LossParams(tau0=run.tau_loss, target_true=run.target_true, target_false=run.target_false)
    cfg = train_config(run, lr_decay=run.lr_decay, loss_params=params)
    record = {
        "dataset": run.dataset,
        "data_options": run.data_options,
        "n_classes": train.n_classes,
        "dataset_meta": train.meta,
        "layers": run.layers,
        "tau_syn": run.tau_syn,
        "tau_mem": run.tau_mem,
        "t_max": run.t_max,
        "truncate": run.truncate,
        "engine": run.engine,
        "dtype": "float32",
        "seed": run.seed,
        "device": device,
        "max_train": run.max_train,
    }
    return model, cfg, [], record
