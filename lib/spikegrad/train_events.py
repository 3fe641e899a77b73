"""Training loop for continuous-time event networks (:class:`spikegrad.eventnet.EventNet`): Adam, a per-epoch
learning-rate schedule, checkpoint every epoch and resume, validation-based model selection and one test
evaluation, as :func:`spikegrad.train.fit`, with the statistics of Bacho & Chu's monitors.

Losses (:mod:`spikegrad.losses`): ``ttfs`` — softmax cross-entropy of −t/τ_loss on the first output spikes
(``first_spike_exp`` with α = 0; Bacho & Chu's ``TTFSSoftmaxCrossEntropy``) — and ``spike_count`` (targets
``target_true``/``target_false``; a heuristic gradient).

Per layer and evaluated split: ``spikes`` (spikes per sample), ``silent`` (fraction of neurons without a spike on
the whole split; Bacho & Chu's ``SilentNeuronsMonitor``) and ``saturated`` (fraction of (sample, neuron) pairs
that used all K slots: with ``truncate`` those neurons were cut off). ``latency``: mean time of the predicted
output neuron's first spike over the samples where it fired. ``seconds``: wall time of the epoch's training.

Files written to ``out_dir`` as in :func:`spikegrad.train.fit` (``checkpoint.safetensors``, ``history.csv``,
``weights.safetensors``, and last ``metrics.json``).
"""

import math
import time
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from spikegrad import results
from spikegrad.data import SpikeData
from spikegrad.eventnet import EventNet
from spikegrad.losses import FirstSpikeParams, first_spike_loss, spike_count_loss
from spikegrad.train import SCHEDULES, learning_rate, load_checkpoint, save_checkpoint, write_history

EVENT_LOSSES = ("ttfs", "spike_count")
EVAL_BATCH = 256  # samples per evaluation batch: the event loop's cost is per batch, not per sample


class EventTrainConfig(NamedTuple):
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3  # Adam η
    schedule: str = "exponential"  # as spikegrad.train.TrainConfig (ema_halving excluded)
    lr_decay: float = 1.0
    loss: str = "ttfs"  # "ttfs" or "spike_count"
    tau_loss: float = 5.0  # ms, ttfs softmax temperature
    target_true: float = 15.0  # spike_count targets
    target_false: float = 3.0
    seed: int = 0  # batch order


def check_config(cfg: EventTrainConfig) -> EventTrainConfig:
    """Raise ValueError naming the first invalid field."""
    for name in ("epochs", "batch_size"):
        if not (isinstance(getattr(cfg, name), int) and getattr(cfg, name) >= 1):
            raise ValueError(f"{name} must be a positive integer, got {getattr(cfg, name)!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {cfg.lr!r}")
    if cfg.schedule not in SCHEDULES or cfg.schedule == "ema_halving":
        raise ValueError(f"schedule must be constant, exponential or cosine, got {cfg.schedule!r}")
    if not (math.isfinite(cfg.lr_decay) and 0 < cfg.lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {cfg.lr_decay!r}")
    if cfg.loss not in EVENT_LOSSES:
        raise ValueError(f"loss must be one of {EVENT_LOSSES}, got {cfg.loss!r}")
    if not (math.isfinite(cfg.tau_loss) and cfg.tau_loss > 0):
        raise ValueError(f"tau_loss must be a positive number of ms, got {cfg.tau_loss!r}")
    if not (0 <= cfg.target_false and 0 <= cfg.target_true):
        raise ValueError(f"spike-count targets must be non-negative, got {cfg.target_true}, {cfg.target_false}")
    return cfg


def event_loss(cfg: EventTrainConfig, out: torch.Tensor, labels: torch.Tensor, t_max: float):
    """(mean loss, logits [B, C]) of output spike times [B, C, K]."""
    if cfg.loss == "ttfs":
        return first_spike_loss("first_spike_exp", out[..., 0], labels, t_max, FirstSpikeParams(cfg.tau_loss, 1.0, 0.0))
    return spike_count_loss(out, labels, cfg.target_true, cfg.target_false)


def _inputs(model: EventNet, data: SpikeData, idx) -> tuple[torch.Tensor, torch.Tensor]:
    param = next(model.parameters())
    times, _ = data.to_padded(indices=idx, dtype=param.dtype)
    return times.to(param.device), torch.as_tensor(data.labels[idx], device=param.device)


def evaluate(model: EventNet, data: SpikeData, cfg: EventTrainConfig) -> dict:
    """Loss, accuracy, latency and the per-layer statistics of the module docstring over every sample."""
    n_seen, loss_sum, correct, latency_sum, n_latency = 0, 0.0, 0, 0.0, 0
    spikes, active, saturated = None, None, None
    with torch.no_grad():
        for idx in data.batches(max(cfg.batch_size, EVAL_BATCH), shuffle=False):
            x, y = _inputs(model, data, idx)
            outputs = model(x)
            loss, logits = event_loss(cfg, outputs[-1], y, model.spec.t_max)
            pred = logits.argmax(-1)
            first = outputs[-1][..., 0].gather(1, pred[:, None])[:, 0]
            latency_sum += first[torch.isfinite(first)].sum().item()
            n_latency += int(torch.isfinite(first).sum())
            counts = [torch.isfinite(t).sum(-1) for t in outputs]
            batch_spikes = [c.sum().item() for c in counts]
            batch_active = [(c > 0).any(0) for c in counts]
            batch_saturated = [
                (c == t.shape[-1]).sum().item() / c.shape[1] for c, t in zip(counts, outputs, strict=True)
            ]
            if spikes is None:
                spikes, active, saturated = batch_spikes, batch_active, batch_saturated
            else:
                spikes = [a + b for a, b in zip(spikes, batch_spikes, strict=True)]
                active = [a | b for a, b in zip(active, batch_active, strict=True)]
                saturated = [a + b for a, b in zip(saturated, batch_saturated, strict=True)]
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (pred == y).sum().item()
    assert n_seen == len(data), f"evaluated {n_seen}/{len(data)} samples"
    lif_layers = [k for k, layer in enumerate(model.spec.layers) if layer.kind != "pool"]
    stats = {"loss": loss_sum / n_seen, "accuracy": correct / n_seen}
    stats["latency"] = latency_sum / n_latency if n_latency else math.nan
    for j, k in enumerate(lif_layers):
        stats[f"spikes_l{j + 1}"] = spikes[k] / n_seen
        stats[f"silent_l{j + 1}"] = 1.0 - active[k].float().mean().item()
        stats[f"saturated_l{j + 1}"] = saturated[k] / n_seen
    return stats


def fit(
    model: EventNet,
    train: SpikeData,
    validation: SpikeData,
    test: SpikeData,
    cfg: EventTrainConfig,
    out_dir: Path,
    record: dict | None = None,
    progress: bool = True,
) -> dict:
    """Train ``model``, select the epoch with the best validation accuracy, test it once; resumes from
    ``out_dir/checkpoint.safetensors`` and holds ``out_dir`` as :func:`spikegrad.train.fit` does. ``record`` is
    stored in ``metrics.json``. Returns the metrics."""
    check_config(cfg)
    with results.claim_run_dir(out_dir) as out_dir:
        return _fit(model, train, validation, test, cfg, out_dir, record, progress)


def _fit(model, train, validation, test, cfg: EventTrainConfig, out_dir: Path, record, progress) -> dict:
    ckpt = out_dir / "checkpoint.safetensors"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -1.0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    identity = {"train_config": cfg._asdict(), "spec": repr(model.spec), "engine": model.engine}
    restored = load_checkpoint(ckpt, model, opt, identity)
    if restored is not None:
        meta, best_state = restored
        history, best = meta["history"], meta["best"]
        write_history(out_dir, history)  # the re-run of a killed job may have removed it

    bar = tqdm(range(len(history), cfg.epochs), desc=out_dir.name, disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        n_seen, loss_sum, correct = 0, 0.0, 0
        for b, idx in enumerate(train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch)):
            x, y = _inputs(model, train, idx)
            loss, logits = event_loss(cfg, model(x)[-1], y, model.spec.t_max)
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
        seconds = time.perf_counter() - t0
        val = evaluate(model, validation, cfg)
        row = {"epoch": epoch + 1, "lr": learning_rate(cfg, epoch), "train_loss": loss_sum / n_seen,
               "train_accuracy": correct / n_seen, "seconds": seconds}  # fmt: skip
        row.update({f"val_{k}": v for k, v in val.items()})
        history.append(row)
        if val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch + 1, "accuracy": val["accuracy"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        save_checkpoint(ckpt, model, opt, best_state, {"history": history, "best": best, "identity": identity})
        write_history(out_dir, history)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val['accuracy']:.3f}")

    model.load_state_dict(best_state)
    results.save_tensors(out_dir / "weights.safetensors", best_state, {"best_epoch": best["epoch"]})
    test_stats = evaluate(model, test, cfg)
    metrics = {
        **{f"test_{k}": v for k, v in test_stats.items()},
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["accuracy"],
        "final_train_accuracy": history[-1]["train_accuracy"],
        "train_seconds": sum(row["seconds"] for row in history),
        "seconds_per_epoch": sum(row["seconds"] for row in history) / len(history),
        "n_train": len(train),
        "n_validation": len(validation),
        "n_test": len(test),
        "train_config": cfg._asdict(),
        "versions": results.versions(),
        **(record or {}),
    }
    results.write_json(out_dir / "metrics.json", metrics)
    return metrics
