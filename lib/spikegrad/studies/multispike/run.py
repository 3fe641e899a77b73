"""What ``notebooks/multispike.ipynb`` does between its parameters and :func:`spikegrad.train.fit`: a
continuous-time network (:class:`spikegrad.eventnet.EventNet`: dense, convolutional and pooling layers) with one
exact engine, its training configuration and the record stored in ``metrics.json`` (:func:`build`)."""

from typing import NamedTuple

import torch

from spikegrad.data import SpikeData
from spikegrad.device import available_device
from spikegrad.eventnet import EventNet, EventNetSpec, LayerSpec
from spikegrad.losses import LossParams
from spikegrad.runs import train_config
from spikegrad.train import TrainConfig


class EventRun(NamedTuple):
    """Parameters of ``notebooks/multispike.ipynb``."""

    dataset: str = "digits"  # spikegrad.data.DATASETS
    data_root: str | None = None  # folder of prepared data (None: generate in memory)
    data_options: dict = {}  # keyword arguments of spikegrad.data.load (e.g. MNIST's t_trial, the input span)
    max_train: int | None = None  # use only the first N training samples
    layers: list = [  # spikegrad.eventnet.LayerSpec fields
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


def build(run: EventRun, train: SpikeData) -> tuple[EventNet, TrainConfig, list, dict]:
    """(network on ``run.device``, training configuration, hooks (none), record) of ``run`` for a training split
    like ``train``; a convolutional first layer sees the images (``meta["image_shape"]``), a dense one the
    channels."""
    device = str(available_device(run.device))
    specs = tuple(LayerSpec(**layer) for layer in run.layers)
    first = next(layer for layer in specs if layer.kind != "pool")
    input_shape = (1, *train.meta["image_shape"]) if first.kind == "conv" else (train.n_units,)
    spec = EventNetSpec(input_shape, specs, tau_syn=run.tau_syn, tau_mem=run.tau_mem, t_max=run.t_max,
                        truncate=run.truncate)  # fmt: skip
    model = EventNet(spec, engine=run.engine, seed=run.seed, dtype=torch.float32).to(device)
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
