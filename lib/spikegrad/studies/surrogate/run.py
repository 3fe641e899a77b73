"""What ``notebooks/surrogate.ipynb`` does between its parameters and :func:`spikegrad.train.fit`: the paper's
network (:class:`spikegrad.sgnet.SGNet`, built by :func:`spikegrad.network.build`) with the chosen SG shape, the
stability conditions applied before training, the initial firing rate set by bias pre-training, the sparsity loss
as a hook, and the record stored in ``metrics.json`` (:func:`build`)."""

from typing import NamedTuple

from spikegrad.data import SpikeData
from spikegrad.device import available_device
from spikegrad.hooks import SparsityPenalty
from spikegrad.model import dense_stack
from spikegrad.network import build as build_network
from spikegrad.runs import train_config
from spikegrad.sgnet import CellParams, SGNet
from spikegrad.studies.surrogate.prepare import adjust_initial_rate, predictions, stabilize_network
from spikegrad.studies.surrogate.stability import input_moments
from spikegrad.surrogate import SurrogateParams
from spikegrad.train import TrainConfig, evaluate

MOMENT_SAMPLES = 256  # training samples whose input statistics the stability conditions use


class SurrogateRun(NamedTuple):
    """Parameters of ``notebooks/surrogate.ipynb``."""

    dataset: str = "digits"  # spikegrad.data.DATASETS
    data_root: str | None = None  # folder of prepared data (None: generate in memory)
    max_train: int | None = None  # use only the first N training samples
    dt: float = 1.0  # ms
    hidden: list = [128]  # neurons per recurrent layer
    reset: str = "subtract"  # subtract, mult_memory, mult_all (spikegrad.sgnet.RESETS)
    adaptive: bool = False  # ALIF: adaptive threshold
    tau_mem: float = 20.0  # ms
    threshold: float = 1.0
    tau_adapt: float = 500.0  # ms, ALIF
    shape: str = "fast_sigmoid"  # spikegrad.surrogate.SURROGATES
    dampening: float = 1.0  # γ
    sharpness: float = 1.0  # β
    tail: float = 1.56  # q, q_pseudospike only
    conditions: str = "none"  # stability conditions applied before training: "none" or e.g. "I+II+III+IV"
    initial_rate: float | None = None  # spike probability per step set by bias pre-training (None: off)
    rate_epochs: int = 15  # epochs of bias pre-training
    sparsity: float = 0.0  # sparsity-loss weight once fully switched on (0: off)
    sparsity_target: float = 0.01  # spike probability per step
    loss: str = "avg_xentropy"  # per-step cross-entropy, as in the paper
    lr: float = 1e-3
    schedule: str = "constant"
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "results/scratch/surrogate"
    progress: bool = True


def build(run: SurrogateRun, data: dict[str, SpikeData]) -> tuple[SGNet, TrainConfig, list, dict]:
    """(network, training configuration, hooks, record): the network stabilised and its initial rate set on
    ``data["train"]``; the record holds the SG parameters used, the conditions' predictions and each layer's
    initial spike probability per step on ``data["test"]``."""
    device = str(available_device(run.device))
    train = data["train"]
    cfg = train_config(run)
    hooks = [SparsityPenalty(run.sparsity, run.sparsity_target)] if run.sparsity > 0 else []
    cell = CellParams(run.tau_mem, run.threshold, run.dt, run.reset, run.tau_adapt)
    neuron = "alif" if run.adaptive else "lif"
    spec = dense_stack(train.n_units, tuple(run.hidden), train.n_classes, recurrent=True, readout="linear",
                       neuron=cell, hidden_neuron=neuron)  # fmt: skip
    surrogate = SurrogateParams(run.shape, run.sharpness, run.dampening, run.tail)
    model = build_network(spec, "bptt", run.seed, surrogate=surrogate).to(device)
    chosen = [] if run.conditions == "none" else run.conditions.split("+")
    moments = input_moments(train.to_dense(run.dt, indices=range(min(len(train), MOMENT_SAMPLES))))
    stabilized = stabilize_network(model, chosen, *moments, seed=run.seed)
    predicted = predictions(model)
    if run.initial_rate:
        adjust_initial_rate(model, train, cfg, run.initial_rate, run.rate_epochs)
    rates_initial = evaluate(model, data["test"], cfg)["layer_rates"]  # spike probability per step
    record = {
        "dataset": run.dataset,
        "n_classes": train.n_classes,
        "dataset_meta": train.meta,
        "network": {
            "hidden": run.hidden,
            "neuron": neuron,
            "cell": cell._asdict(),
            "surrogate": [sg._asdict() for sg in model.surrogate],
        },
        "used_dampening": model.surrogate[0].dampening,
        "used_sharpness": model.surrogate[0].sharpness,
        "used_tail": model.surrogate[0].tail,
        "sharpness_solved": stabilized[0].sharpness_solved,  # condition IV: exact root or the paper's fallback
        **{f"predicted_{name}": value for name, value in predicted.items()},
        **{f"rate_initial_l{k + 1}": rate for k, rate in enumerate(rates_initial)},
        "input_mean": moments[0],
        "input_var": moments[1],
        "seed": run.seed,
        "device": device,
        "max_train": run.max_train,
    }
    return model, cfg, hooks, record
