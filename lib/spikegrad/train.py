"""Training loop: Adam, a per-epoch learning-rate schedule, checkpoint every epoch and resume, validation-based
model selection, and a single test evaluation of the selected weights at the end.

Options from Nowotny, Turner & Knight's final SHD model (arXiv 2212.01232, ``genn_eventprop``): the hidden
spike-count regulariser (:func:`spikegrad.losses.rate_penalty`); learning-rate ease-in (η/1000, ×1.05 per batch
up to η); the ``ema_halving`` schedule (η halves when the fast EMA (0.8) of validation accuracy falls to or below
the slow EMA (0.85), at most every ``halving_every`` epochs); silent-neuron rewiring (+``rewire`` to every incoming
weight of a hidden neuron that did not spike during an epoch). ``track_changes`` counts the hidden spikes each
update creates and deletes (one extra forward pass per batch).

Options from Herranz-Celotti & Rouat (arXiv 2202.00282): the sparsity loss
s·``sparsity_weight``·Σ_layers (⟨z⟩ − ``sparsity_target``)² switched on gradually, s = 0 for the first 20 % of the
epochs and rising linearly to 1 at 60 % (:func:`sparsity_switch`); :func:`adjust_initial_rate` trains only the
hidden biases before training so that each layer starts at a chosen firing probability.

Files written to ``out_dir`` (each atomically): ``checkpoint.safetensors`` (weights, optimiser state, best
weights and progress, rewritten every epoch), ``history.csv`` (one row per finished epoch; with the sparse engine
also ``active_l<k>``, layer k's mean active fraction over the epoch's batches), ``weights.safetensors``
(the selected weights) and, last, ``metrics.json``; a run is complete only when ``metrics.json`` exists. A run
holds its directory (:func:`spikegrad.results.claim_run_dir`: a lock, an old ``metrics.json`` removed first) and
sets aside a checkpoint of another configuration. Batch order and augmentation depend only on (seed, epoch), so
a resumed run repeats the uninterrupted one exactly.
"""

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
from safetensors import SafetensorError
from tqdm.auto import tqdm

from spikegrad import results
from spikegrad.data import SpikeData
from spikegrad.data.augment import Transform, apply, resolve
from spikegrad.losses import (
    FirstSpikeParams,
    RateRegularizer,
    check_loss,
    cross_entropy,
    first_spike_loss,
    rate_penalty,
    readout_for,
    sparsity_penalty,
)
from spikegrad.network import SNN

SCHEDULES = ("constant", "exponential", "cosine", "ema_halving")


class TrainConfig(NamedTuple):
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3  # Adam learning rate η
    schedule: str = "cosine"  # per-epoch: constant, exponential (η·γ^epoch) or cosine (to 0 at the last epoch)
    lr_decay: float = 1.0  # γ of the exponential schedule
    loss: str = "max"  # see spikegrad.losses.LOSSES
    dt: float = 1.0  # ms, input time bin
    n_steps: int | None = None  # time steps per trial; default ceil(duration / dt)
    seed: int = 0  # batch order and augmentation draws (the network's initial weights have their own seed)
    augment: tuple[Transform, ...] = ()  # applied to the training split afresh each epoch (data.augment)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam β1, β2
    tau0: float = 0.5  # first-spike losses: τ_0, τ_1 (ms) and α (spikegrad.losses.FirstSpikeParams)
    tau1: float = 6.4
    ttfs_alpha: float = 3e-3
    reg_nu: float = 14.0  # hidden spike-count regulariser: target ν, strengths above / below (0 = off)
    reg_upper: float = 0.0
    reg_lower: float = 0.0
    ease_in: bool = False  # start each run at η/1000 and grow ×1.05 per batch up to η
    halving_every: int = 50  # ema_halving: at most one halving per this many epochs
    rewire: float = 0.0  # added to the incoming weights of hidden neurons silent for a whole epoch
    track_changes: bool = False  # record hidden spikes created / deleted per update
    sparsity_weight: float = 0.0  # sparsity loss strength at full switch (0 = off)
    sparsity_target: float = 0.01  # target spike probability per step


def first_spike_params(cfg: "TrainConfig") -> FirstSpikeParams:
    return FirstSpikeParams(cfg.tau0, cfg.tau1, cfg.ttfs_alpha)


def regularizer(cfg: "TrainConfig") -> RateRegularizer:
    return RateRegularizer(cfg.reg_nu, cfg.reg_upper, cfg.reg_lower)


def check_config(cfg: TrainConfig) -> TrainConfig:
    """Raise ValueError naming the first invalid field."""
    if not (isinstance(cfg.epochs, int) and cfg.epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {cfg.epochs!r}")
    if not (isinstance(cfg.batch_size, int) and cfg.batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {cfg.batch_size!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {cfg.lr!r}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    if not (math.isfinite(cfg.lr_decay) and 0 < cfg.lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {cfg.lr_decay!r}")
    if not (math.isfinite(cfg.dt) and cfg.dt > 0):
        raise ValueError(f"dt must be a positive number of ms, got {cfg.dt!r}")
    check_loss(cfg.loss)
    for name in ("tau0", "tau1"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) > 0):
            raise ValueError(f"{name} must be a positive number of ms, got {getattr(cfg, name)!r}")
    for name in ("ttfs_alpha", "reg_nu", "reg_upper", "reg_lower", "rewire", "sparsity_weight"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {getattr(cfg, name)!r}")
    if not (isinstance(cfg.halving_every, int) and cfg.halving_every >= 1):
        raise ValueError(f"halving_every must be a positive integer, got {cfg.halving_every!r}")
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    if not (math.isfinite(cfg.sparsity_target) and 0 <= cfg.sparsity_target <= 1):
        raise ValueError(f"sparsity_target must be a spike probability in [0, 1], got {cfg.sparsity_target!r}")
    for transform in cfg.augment:
        resolve(transform)
    return cfg


def sparsity_switch(epoch: int, epochs: int) -> float:
    """s(e) = clip((e/E − 0.2)/0.4, 0, 1) for 0-based epoch e of E: off for the first 20 %, full from 60 %."""
    return min(max((epoch / epochs - 0.2) / 0.4, 0.0), 1.0)


def learning_rate(cfg: TrainConfig, epoch: int, halvings: int = 0) -> float:
    """η at ``epoch`` (0-based) under the configured schedule (``halvings`` so far for ``ema_halving``)."""
    if cfg.schedule == "ema_halving":
        return cfg.lr * 0.5**halvings
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.lr_decay**epoch
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr


def _inputs(data: SpikeData, idx, cfg: TrainConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = data.to_dense(cfg.dt, n_steps=cfg.n_steps, indices=idx, device=device)
    return x, torch.as_tensor(data.labels[idx], device=device)


def batch_loss(model: SNN, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, sparsity: float = 0.0):
    """(loss incl. the rate regulariser and ``sparsity`` × the sparsity loss, logits, network output) of one
    batch."""
    out = model(x)
    if out.first_spike is not None:
        loss, logits = first_spike_loss(cfg.loss, out.first_spike, y, x.shape[0] * cfg.dt, first_spike_params(cfg))
    else:
        loss, logits = cross_entropy(cfg.loss, out.voltage, y)
    if cfg.reg_upper > 0 or cfg.reg_lower > 0:
        loss = loss + rate_penalty(out.counts, regularizer(cfg))
    if sparsity > 0:
        loss = loss + sparsity * sparsity_penalty(out.spikes, cfg.sparsity_target)
    return loss, logits, out


def evaluate(model: SNN, data: SpikeData, cfg: TrainConfig) -> dict:
    """Mean loss, accuracy, hidden firing rate (spikes per neuron per trial, averaged over layers) and each hidden
    layer's spike probability per step (``layer_rates``) over every sample of ``data``."""
    device = next(model.parameters()).device
    n_seen, loss_sum, correct, per_neuron, steps = 0, 0.0, 0, None, 1
    model.eval()
    with torch.no_grad():
        for idx in data.batches(cfg.batch_size, shuffle=False):
            x, y = _inputs(data, idx, cfg, device)
            loss, logits, out = batch_loss(model, x, y, cfg)
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
            sums = [n.sum().item() / n.shape[-1] for n in out.counts]  # per layer: Σ_batch spikes per neuron
            per_neuron = sums if per_neuron is None else [a + b for a, b in zip(per_neuron, sums, strict=True)]
            steps = x.shape[0]
    assert n_seen == len(data), f"evaluated {n_seen}/{len(data)} samples"
    per_neuron = [total / n_seen for total in per_neuron or []]  # spikes per neuron per trial, per layer
    return {
        "loss": loss_sum / n_seen,
        "accuracy": correct / n_seen,
        "rate": sum(per_neuron) / max(len(per_neuron), 1),
        "layer_rates": [rate / steps for rate in per_neuron],
    }


def adjust_initial_rate(
    model: SNN, data: SpikeData, cfg: TrainConfig, target: float, epochs: int = 15, lr: float = 1e-2
) -> None:
    """Train only the hidden biases for ``epochs`` with Adam on Σ_layers (⟨z⟩ − target)² so that every layer
    starts at spike probability ``target`` per step (Herranz-Celotti & Rouat's initial-rate adjustment)."""
    if not 0 < target < 1:
        raise ValueError(f"the initial firing rate must be a spike probability in (0, 1), got {target!r}")
    biases = [layer.bias for layer in model.hidden]
    opt = torch.optim.Adam(biases, lr=lr)
    device = biases[0].device
    model.train()
    for epoch in range(epochs):
        for idx in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch):
            loss = sparsity_penalty(model(_inputs(data, idx, cfg, device)[0]).spikes, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.zero_grad(set_to_none=True)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    state = opt.state_dict()
    tensors = {f"opt.{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}
    return tensors, state["param_groups"]


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(path: Path, model: torch.nn.Module, opt, best_state: dict, progress: dict) -> None:
    """Write weights, optimiser state, the best weights so far and ``progress`` (JSON metadata) to ``path``."""
    tensors, groups = _optimizer_tensors(opt)
    tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    tensors.update({f"best.{k}": v for k, v in best_state.items()})
    results.save_tensors(path, tensors, {"param_groups": groups, **progress})


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _set_aside(path: Path, reason: str) -> None:
    stale = path.with_name(f"{path.stem}.stale{path.suffix}")
    os.replace(path, stale)
    warnings.warn(f"{path}: {reason}; moved it to {stale.name}, the run starts afresh", stacklevel=3)


def load_checkpoint(path: Path, model: torch.nn.Module, opt, identity: dict) -> tuple[dict, dict] | None:
    """Restore model and optimiser from :func:`save_checkpoint`'s file; returns (progress, best weights), or None
    if there is nothing to resume. A checkpoint written under another ``identity`` (configuration), or one that
    cannot be read, is set aside as ``checkpoint.stale.safetensors`` with a warning and the run starts afresh."""
    if not path.exists():
        return None
    try:
        tensors, meta = results.load_tensors(path)
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        _set_aside(path, f"unreadable checkpoint ({err})")
        return None
    if not isinstance(meta, dict) or meta.get("identity") != json.loads(json.dumps(identity)):
        _set_aside(path, "checkpoint of another configuration")
        return None
    model.load_state_dict(_prefixed(tensors, "model."))
    _load_optimizer(opt, tensors, meta["param_groups"])
    return meta, _prefixed(tensors, "best.")


def write_history(out_dir: Path, history: list[dict]) -> None:
    """``history.csv``: one row per finished epoch."""
    results.write_text(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))


def _count_changes(model: SNN, x: torch.Tensor, before: list[torch.Tensor], changes: dict) -> None:
    """Add the hidden spikes the last update created and deleted on batch x to ``changes``: per sample and neuron
    the rise or fall of its spike count [B, N] (a spike that only moved is neither), summed over layers."""
    with torch.no_grad():
        after = model(x).counts
        for old, new in zip(before, after, strict=True):
            change = new - old
            changes["created"] += change.clamp(min=0).sum().item()
            changes["deleted"] += (-change).clamp(min=0).sum().item()


def _rewire_silent(model: SNN, epoch_counts: list[torch.Tensor], amount: float) -> None:
    """+``amount`` to every incoming feed-forward weight of hidden neurons without a spike in the epoch."""
    with torch.no_grad():
        for layer, counts in zip(model.hidden, epoch_counts, strict=True):
            layer.weight[counts == 0] += amount


def _update_halving(schedule: dict, accuracy: float, epoch: int, every: int) -> None:
    """ema_halving: fast/slow EMAs (0.8/0.85) of validation accuracy; halve η when fast ≤ slow (rate-limited)."""
    if schedule["fast"] is None:
        schedule["fast"] = schedule["slow"] = accuracy
        return
    schedule["fast"] = 0.8 * schedule["fast"] + 0.2 * accuracy
    schedule["slow"] = 0.85 * schedule["slow"] + 0.15 * accuracy
    if schedule["fast"] <= schedule["slow"] and epoch + 1 - schedule["last_halving"] >= every:
        schedule["halvings"] += 1
        schedule["last_halving"] = epoch + 1


def fit(
    model: SNN,
    train: SpikeData,
    validation: SpikeData,
    test: SpikeData,
    cfg: TrainConfig,
    out_dir: Path,
    record: dict | None = None,
    progress: bool = True,
) -> dict:
    """Train ``model`` on ``train``, select the epoch with the best validation accuracy, test it once.

    Resumes from ``out_dir/checkpoint.safetensors`` when present; holds ``out_dir`` for the run
    (:func:`spikegrad.results.claim_run_dir`). ``record`` (config, dataset info, ...) is stored in
    ``metrics.json`` beside the results. Returns the metrics dict.
    """
    check_config(cfg)
    if model.spec.readout != readout_for(cfg.loss):
        raise ValueError(
            f"loss {cfg.loss!r} needs a {readout_for(cfg.loss)!r} readout but the network has {model.spec.readout!r}"
        )
    with results.claim_run_dir(out_dir) as out_dir:
        return _fit(model, train, validation, test, cfg, out_dir, record, progress)


def _fit(model, train, validation, test, cfg: TrainConfig, out_dir: Path, record, progress) -> dict:
    ckpt = out_dir / "checkpoint.safetensors"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -1.0}
    schedule = {"fast": None, "slow": None, "halvings": 0, "last_halving": 0, "batches": 0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    identity = {"train_config": cfg._asdict(), "spec": repr(model.spec), "surrogate": repr(model.surrogate)}
    restored = load_checkpoint(ckpt, model, opt, identity)
    if restored is not None:
        meta, best_state = restored
        history, best, schedule = meta["history"], meta["best"], meta["schedule"]
        write_history(out_dir, history)  # the re-run of a killed job may have removed it

    bar = tqdm(range(len(history), cfg.epochs), desc=out_dir.name, disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        lr = learning_rate(cfg, epoch, schedule["halvings"])
        model.train()
        device = next(model.parameters()).device
        n_seen, loss_sum, correct, changes = 0, 0.0, 0, {"created": 0.0, "deleted": 0.0}
        active = [0.0] * len(model.hidden)  # sparse engine: Σ over batches of each layer's active fraction
        epoch_counts = [torch.zeros(len(layer.weight), device=device) for layer in model.hidden]
        data = apply(train, cfg.augment, seed=cfg.seed, epoch=epoch) if cfg.augment else train
        sparsity = cfg.sparsity_weight * sparsity_switch(epoch, cfg.epochs)
        batches = list(data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch))
        for b, idx in enumerate(batches):
            x, y = _inputs(data, idx, cfg, device)
            loss, logits, out = batch_loss(model, x, y, cfg, sparsity)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch} batch {b}; "
                    f"the last good checkpoint is {ckpt} (try a smaller lr)"
                )
            for group in opt.param_groups:
                group["lr"] = min(lr, lr / 1000 * 1.05 ** schedule["batches"]) if cfg.ease_in else lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if model.train_tau:
                model.clamp_tau()
            schedule["batches"] += 1
            if cfg.track_changes:
                _count_changes(model, x, out.counts, changes)
            for total, n in zip(epoch_counts, out.counts, strict=True):
                total += n.detach().sum(0)
            active = [a + f for a, f in zip(active, out.active, strict=True)] if out.active else active
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
        if cfg.rewire > 0:
            _rewire_silent(model, epoch_counts, cfg.rewire)
        val = evaluate(model, validation, cfg)
        if cfg.schedule == "ema_halving":
            _update_halving(schedule, val["accuracy"], epoch, cfg.halving_every)
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": loss_sum / n_seen,
            "train_accuracy": correct / n_seen,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_rate": val["rate"],
            "seconds": time.perf_counter() - t0,
        }
        if out.active:  # the last batch's `out`: this engine reports active sets
            row.update({f"active_l{k + 1}": a / len(batches) for k, a in enumerate(active)})
        if cfg.track_changes:
            row.update({f"spikes_{k}": v / len(batches) for k, v in changes.items()})
        history.append(row)
        if val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch + 1, "accuracy": val["accuracy"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        progress_meta = {"history": history, "best": best, "schedule": schedule, "identity": identity}
        save_checkpoint(ckpt, model, opt, best_state, progress_meta)
        write_history(out_dir, history)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val['accuracy']:.3f}")

    model.load_state_dict(best_state)
    results.save_tensors(out_dir / "weights.safetensors", best_state, {"best_epoch": best["epoch"]})
    test_metrics = evaluate(model, test, cfg)
    metrics = {
        "test_accuracy": test_metrics["accuracy"],
        "test_loss": test_metrics["loss"],
        "test_rate": test_metrics["rate"],
        **{f"rate_final_l{k + 1}": rate for k, rate in enumerate(test_metrics["layer_rates"])},
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["accuracy"],
        "final_train_accuracy": history[-1]["train_accuracy"],
        "train_seconds": sum(row["seconds"] for row in history),
        "n_train": len(train),
        "n_validation": len(validation),
        "n_test": len(test),
        "train_config": cfg._asdict(),
        "versions": results.versions(),
        **(record or {}),
    }
    results.write_json(out_dir / "metrics.json", metrics)
    return metrics
