"""Training loop: Adam, a per-epoch learning-rate schedule, checkpoint every epoch and resume, validation-based
model selection, and a single test evaluation of the selected weights at the end.

Files written to ``out_dir`` (each atomically): ``checkpoint.safetensors`` (weights, optimiser state, best
weights and progress, rewritten every epoch), ``history.csv`` (one row per finished epoch), ``weights.safetensors``
(the selected weights) and, last, ``metrics.json``; a run is complete only when ``metrics.json`` exists.
Batch order and augmentation depend only on (seed, epoch), so a resumed run repeats the uninterrupted one
exactly.
"""

import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
from tqdm.auto import tqdm

from spikegrad import results
from spikegrad.data import SpikeData
from spikegrad.data.augment import Transform, apply, resolve
from spikegrad.losses import check_loss, cross_entropy
from spikegrad.network import SNN

SCHEDULES = ("constant", "exponential", "cosine")


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
    for transform in cfg.augment:
        resolve(transform)
    return cfg


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """η at ``epoch`` (0-based) under the configured schedule."""
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.lr_decay**epoch
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr


def _inputs(data: SpikeData, idx, cfg: TrainConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = data.to_dense(cfg.dt, n_steps=cfg.n_steps, indices=idx, device=device)
    return x, torch.as_tensor(data.labels[idx], device=device)


def evaluate(model: SNN, data: SpikeData, cfg: TrainConfig) -> dict[str, float]:
    """Mean loss, accuracy and hidden firing rate (spikes per neuron per trial) over every sample of ``data``."""
    device = next(model.parameters()).device
    n_seen, loss_sum, correct, spikes = 0, 0.0, 0, 0.0
    model.eval()
    with torch.no_grad():
        for idx in data.batches(cfg.batch_size, shuffle=False):
            x, y = _inputs(data, idx, cfg, device)
            out = model(x)
            loss, logits = cross_entropy(cfg.loss, out.voltage, y)
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
            spikes += sum(z.sum(0).mean(-1).sum().item() for z in out.spikes) / max(len(out.spikes), 1)
    assert n_seen == len(data), f"evaluated {n_seen}/{len(data)} samples"
    return {"loss": loss_sum / n_seen, "accuracy": correct / n_seen, "rate": spikes / n_seen}


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


def _save_checkpoint(path: Path, model: SNN, opt, best_state: dict, progress: dict) -> None:
    tensors, groups = _optimizer_tensors(opt)
    tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    tensors.update({f"best.{k}": v for k, v in best_state.items()})
    results.save_tensors(path, tensors, {"param_groups": groups, **progress})


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


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

    Resumes from ``out_dir/checkpoint.safetensors`` when present. ``record`` (config, dataset info, ...) is
    stored in ``metrics.json`` beside the results. Returns the metrics dict.
    """
    check_config(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint.safetensors"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -1.0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    identity = {"train_config": cfg._asdict(), "spec": repr(model.spec), "surrogate": repr(model.surrogate)}
    if ckpt.exists():
        tensors, meta = results.load_tensors(ckpt)
        if meta["identity"] != json.loads(json.dumps(identity)):
            raise ValueError(
                f"{ckpt} was written by a run with another configuration; remove it or choose another out_dir"
            )
        model.load_state_dict(_prefixed(tensors, "model."))
        _load_optimizer(opt, tensors, meta["param_groups"])
        best_state = _prefixed(tensors, "best.")
        history, best = meta["history"], meta["best"]

    bar = tqdm(range(len(history), cfg.epochs), desc=out_dir.name, disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        lr = learning_rate(cfg, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        device = next(model.parameters()).device
        n_seen, loss_sum, correct = 0, 0.0, 0
        data = apply(train, cfg.augment, seed=cfg.seed, epoch=epoch) if cfg.augment else train
        for b, idx in enumerate(data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch)):
            x, y = _inputs(data, idx, cfg, device)
            loss, logits = cross_entropy(cfg.loss, model(x).voltage, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch} batch {b}; "
                    f"the last good checkpoint is {ckpt} (try a smaller lr)"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
        val = evaluate(model, validation, cfg)
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
        history.append(row)
        if val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch + 1, "accuracy": val["accuracy"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        _save_checkpoint(ckpt, model, opt, best_state, {"history": history, "best": best, "identity": identity})
        results.write_text(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val['accuracy']:.3f}")

    model.load_state_dict(best_state)
    results.save_tensors(out_dir / "weights.safetensors", best_state, {"best_epoch": best["epoch"]})
    test_metrics = evaluate(model, test, cfg)
    metrics = {
        "test_accuracy": test_metrics["accuracy"],
        "test_loss": test_metrics["loss"],
        "test_rate": test_metrics["rate"],
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
