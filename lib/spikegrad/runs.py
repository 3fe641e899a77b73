"""What a training notebook does between its parameters and :func:`spikegrad.train.fit`, as tested functions:
load the splits (:func:`load_splits`) and build the network, the training configuration, the study's hooks and
the record stored in ``metrics.json`` (:func:`build_grid` for ``notebooks/train.ipynb``; the studies' notebooks
have theirs beside them, :mod:`spikegrad.studies.surrogate.run` and :mod:`spikegrad.studies.multispike.run`).

A notebook's parameters are one NamedTuple (:class:`GridRun` here): its defaults are the run's defaults, and the
notebook's ``parameters`` cell (which papermill needs as plain assignments) shows the same values (a test holds
them equal). Lists arrive from papermill as lists; the NamedTuples take them as they come.
"""

import math
from typing import NamedTuple

from spikegrad.data import SpikeData, load
from spikegrad.data.augment import Transform, apply
from spikegrad.device import available_device
from spikegrad.engines import GRID_ENGINES, get_engine
from spikegrad.hooks import RatePenalty, Rewire, TrackChanges
from spikegrad.losses import LossParams, readout_for
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN, build
from spikegrad.surrogate import SurrogateParams
from spikegrad.train import TrainConfig

SPLITS = ("train", "validation", "test")


def parameters(run_type, namespace: dict):
    """``run_type`` (a run NamedTuple) from the variables of the same names in ``namespace`` (a notebook's
    ``globals()`` after its parameters cell), its ``device`` checked here, so that a device this machine cannot run
    is refused before any work."""
    run = run_type(**{name: namespace[name] for name in run_type._fields})
    return run._replace(device=str(available_device(run.device)))


def train_config(run, **fields) -> TrainConfig:
    """The training configuration from the fields every run record has (epochs, batch size, η, schedule, seed,
    loss) and ``fields``."""
    return TrainConfig(epochs=run.epochs, batch_size=run.batch_size, lr=run.lr, schedule=run.schedule, seed=run.seed,
                       loss=run.loss, **fields)  # fmt: skip


def load_splits(dataset: str, data_root=None, max_train=None, preprocess=(), options=None) -> dict[str, SpikeData]:
    """The three splits of ``dataset`` (:func:`spikegrad.data.load` with ``options``), the training split cut to
    its first ``max_train`` samples, and the ``preprocess`` transforms ([name, params] pairs) applied to each."""
    data = {split: load(dataset, split, root=data_root, **(options or {})) for split in SPLITS}
    if max_train:
        data["train"] = data["train"].subset(range(min(max_train, len(data["train"]))))
    if preprocess:
        data = {split: apply(d, [Transform(*t) for t in preprocess]) for split, d in data.items()}
    return data


class GridRun(NamedTuple):
    """Parameters of ``notebooks/train.ipynb``: one grid network (:class:`spikegrad.network.SNN`) trained with a
    grid engine."""

    dataset: str = "yinyang"  # spikegrad.data.DATASETS
    data_root: str | None = None  # folder of prepared data (None: generate in memory)
    max_train: int | None = None  # use only the first N training samples
    preprocess: list = []  # [name, params] transforms applied to every split (spikegrad.data.augment)
    augment: list = []  # [name, params] random transforms applied to the training split afresh each epoch
    trial_ms: float | None = None  # trial length in ms (None: the dataset's duration)
    engine: str = "bptt"  # spikegrad.engines.GRID_ENGINES
    hidden: int | list = 100  # hidden LIF neurons: a number (one layer) or a list (one entry per layer)
    recurrent: bool = False
    tau_mem: float = 20.0  # ms
    tau_syn: float = 5.0  # ms
    threshold: float = 1.0  # ϑ
    reset: str = "zero"  # zero or subtract (spikegrad.model)
    dt: float = 0.5  # ms
    surrogate: str = "fast_sigmoid"  # bptt, sparse: the SG shape (spikegrad.surrogate.SURROGATES)
    sharpness: float = 5.0  # β
    max_spikes: int | None = None  # eventprop: spike slots per neuron (None: grow as needed)
    active_band: float | None = None  # sparse: B_th of the active set |U − ϑ| < B_th (None: ∞)
    train_tau: bool = False  # eventprop: learn per-neuron τ_m, τ_s of the hidden layer
    hidden_init: list = [5.0, 2.5]  # mean, std in units of 1/sqrt(fan-in)
    readout_init: list = [0.0, 1.0]
    recurrent_init: list = [0.0, 0.5]
    loss: str = "max"  # spikegrad.losses.GRID_LOSSES
    tau0: float = 0.5  # first-spike losses: ms
    tau1: float = 6.4  # ms
    ttfs_alpha: float = 3e-3
    reg_nu: float = 14.0  # hidden spike-count regulariser: target, strengths above / below (0: off)
    reg_upper: float = 0.0
    reg_lower: float = 0.0
    lr: float = 1e-3
    schedule: str = "cosine"  # spikegrad.train.SCHEDULES
    lr_decay: float = 1.0  # per epoch, exponential schedule
    betas: list = [0.9, 0.999]  # Adam
    ease_in: bool = False  # η/1000 growing ×1.05 per batch
    rewire: float = 0.0  # added to incoming weights of hidden neurons silent for an epoch
    track_changes: bool = False  # count hidden spikes created / deleted per update
    epochs: int = 5
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "results/scratch"
    progress: bool = True


def grid_hooks(run: GridRun) -> list:
    """The EventProp study's options as hooks (:mod:`spikegrad.hooks`), in the order they act."""
    hooks = []
    if run.reg_upper > 0 or run.reg_lower > 0:
        hooks.append(RatePenalty(run.reg_nu, run.reg_upper, run.reg_lower))
    if run.track_changes:
        hooks.append(TrackChanges())
    if run.rewire > 0:
        hooks.append(Rewire(run.rewire))
    return hooks


def build_grid(run: GridRun, train: SpikeData) -> tuple[SNN, TrainConfig, list, dict]:
    """(network on ``run.device``, training configuration, hooks, record for ``metrics.json``) of ``run`` for a
    training split like ``train`` (its channels and classes)."""
    device = str(available_device(run.device))
    get_engine(run.engine, GRID_ENGINES)  # a continuous-time engine is refused by name
    spec = dense_stack(
        train.n_units,
        tuple(run.hidden) if isinstance(run.hidden, list | tuple) else (run.hidden,),
        train.n_classes,
        recurrent=run.recurrent,
        readout=readout_for(run.loss),
        neuron=LIFParams(
            tau_mem=run.tau_mem, tau_syn=run.tau_syn, threshold=run.threshold, dt=run.dt, reset=run.reset
        ),  # fmt: skip
        hidden_init=WeightInit(*run.hidden_init),
        readout_init=WeightInit(*run.readout_init),
        recurrent_init=WeightInit(*run.recurrent_init),
    )
    model = build(
        spec,
        run.engine,
        run.seed,
        surrogate=SurrogateParams(run.surrogate, run.sharpness),
        max_spikes=run.max_spikes,
        train_tau=run.train_tau,
        active_band=math.inf if run.active_band is None else run.active_band,
    ).to(device)
    cfg = train_config(
        run,
        lr_decay=run.lr_decay,
        betas=tuple(run.betas),
        ease_in=run.ease_in,
        augment=tuple(Transform(*t) for t in run.augment),
        loss_params=LossParams(tau0=run.tau0, tau1=run.tau1, alpha=run.ttfs_alpha),
        n_steps=None if run.trial_ms is None else round(run.trial_ms / run.dt),
    )
    record = {
        "dataset": run.dataset,
        "n_classes": train.n_classes,
        "dataset_meta": train.meta,
        "engine": run.engine,
        "network": {
            "hidden": run.hidden,
            "recurrent": run.recurrent,
            "tau_mem": run.tau_mem,
            "tau_syn": run.tau_syn,
            "threshold": run.threshold,
            "reset": run.reset,
            "dt": run.dt,
            "active_band": run.active_band,
            "readout": spec.readout.neuron,
            "train_tau": run.train_tau,
            "surrogate": run.surrogate,
            "sharpness": run.sharpness,
            "hidden_init": run.hidden_init,
            "readout_init": run.readout_init,
            "recurrent_init": run.recurrent_init,
        },
        "preprocess": run.preprocess,
        "trial_ms": run.trial_ms,
        "seed": run.seed,
        "device": device,
        "max_train": run.max_train,
    }
    return model, cfg, grid_hooks(run), record
