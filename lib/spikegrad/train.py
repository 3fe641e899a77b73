"""One training loop for every network and engine: Adam, a per-epoch learning-rate schedule, checkpoint every epoch
and resume, validation-based model selection, and a single test evaluation of the selected weights at the end.

Every network comes from :func:`spikegrad.network.build`; its time decides how a batch is fed and scored
(:class:`GridTask` for the time-grid families, engines bptt / sparse / eventprop; :class:`EventTask` for the
continuous-time one, engines spiketime / adjoint / forwardprop); the loss is chosen by name
(:func:`spikegrad.losses.compute`); study options are hooks (:mod:`spikegrad.hooks`).

Schedules (per epoch e of E): ``constant``; ``exponential`` η·γ^e; ``cosine`` ½η(1 + cos(πe/E)); ``ema_halving``
(Nowotny et al.): η halves when the fast EMA (0.8) of validation accuracy falls to or below the slow EMA (0.85),
at most every ``halving_every`` epochs. ``ease_in`` starts at η/1000 and grows ×1.05 per batch up to η.

Files written to ``out_dir`` (each atomically): ``checkpoint.safetensors`` (weights, optimiser state, best
weights and progress, rewritten every epoch), ``history.csv`` (one row per finished epoch: ``epoch``, ``lr``,
``train_loss``, ``train_accuracy``, the validation statistics ``val_*`` of the task, ``seconds`` of training and
the hooks' columns), ``weights.safetensors`` (the selected weights) and, last, ``metrics.json`` (the test
statistics, the selection, the configuration and the hooks with their settings); a run is
complete only when ``metrics.json`` exists. A run holds its directory (:func:`spikegrad.results.claim_run_dir`:
a lock, an old ``metrics.json`` removed first) and sets aside a checkpoint of another configuration. Batch order
and augmentation depend only on (seed, epoch), so a resumed run repeats the uninterrupted one exactly.
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

from spikegrad import losses, results
from spikegrad.data import SpikeData
from spikegrad.data.augment import Transform, apply, resolve
from spikegrad.hooks import ActiveFraction, ClampTau, Hook
from spikegrad.losses import LossParams

SCHEDULES = ("constant", "exponential", "cosine", "ema_halving")
EVENT_EVAL_BATCH = 256  # EventTask: samples per evaluation batch (the event loop's cost is per batch, not sample)


class TrainConfig(NamedTuple):
    """How one run trains. Length, batch size and η have no default: a run's defaults live in its notebook's
    parameters (:class:`spikegrad.runs.GridRun` and the studies' run records)."""

    epochs: int
    batch_size: int
    lr: float  # Adam learning rate η
    schedule: str = "cosine"  # see the module docstring
    lr_decay: float = 1.0  # γ of the exponential schedule
    betas: tuple[float, float] = (0.9, 0.999)  # Adam β1, β2
    ease_in: bool = False  # start at η/1000 and grow ×1.05 per batch up to η
    halving_every: int = 50  # ema_halving: at most one halving per this many epochs
    seed: int = 0  # batch order and augmentation draws (the network's initial weights have their own seed)
    augment: tuple[Transform, ...] = ()  # applied to the training split afresh each epoch (data.augment)
    loss: str = "max"  # spikegrad.losses.LOSSES
    loss_params: LossParams = LossParams()
    n_steps: int | None = None  # grid networks: time steps per trial; default ceil(duration / Δt)


def check_config(cfg: TrainConfig) -> TrainConfig:
    """Raise ValueError naming the first invalid field."""
    for name in ("epochs", "batch_size", "halving_every"):
        if not (isinstance(getattr(cfg, name), int) and getattr(cfg, name) >= 1):
            raise ValueError(f"{name} must be a positive integer, got {getattr(cfg, name)!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {cfg.lr!r}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    if not (math.isfinite(cfg.lr_decay) and 0 < cfg.lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {cfg.lr_decay!r}")
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    losses.check_loss(cfg.loss)
    losses.check_params(cfg.loss_params)
    for transform in cfg.augment:
        resolve(transform)
    return cfg


def learning_rate(cfg: TrainConfig, epoch: int, halvings: int = 0) -> float:
    """η at ``epoch`` (0-based) under the configured schedule (``halvings`` so far for ``ema_halving``)."""
    if cfg.schedule == "ema_halving":
        return cfg.lr * 0.5**halvings
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.lr_decay**epoch
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr


class Task:
    """How a network family is fed and scored; :class:`GridTask` and :class:`EventTask` say how. The loss reads
    what the network reports (``model.reads``: the readout voltage, the first-spike times or all spike times,
    :func:`spikegrad.losses.read`)."""

    def __init__(self, model, cfg: TrainConfig):
        reads = losses.READS[losses.check_loss(cfg.loss)]
        if reads != model.reads:
            choices = [name for name, kind in losses.READS.items() if kind == model.reads]
            raise ValueError(
                f"loss {cfg.loss!r} reads {reads!r} but this network reports {model.reads!r}: "
                f"train it with one of {choices} or give it the readout the loss needs"
            )
        self.model, self.cfg = model, cfg

    def loss(self, out, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = losses.read(self.cfg.loss, out)
        return losses.compute(self.cfg.loss, output, y, self.duration(x), self.cfg.loss_params)


class GridTask(Task):
    """Time-grid networks (``model.time == "grid"``): inputs binned at the network's Δt into x [T, B, n_in].
    Statistics: ``loss``, ``accuracy``, ``rate`` (hidden spikes per neuron per trial, averaged over layers) and
    ``layer_rates`` (each hidden layer's spike probability per step)."""

    def __init__(self, model, cfg: TrainConfig, hooks=()):
        super().__init__(model, cfg)
        self.dt = model.dt
        self.eval_batch = cfg.batch_size
        self.hooks = [*([ClampTau()] if model.train_tau else []), ActiveFraction(), *hooks]
        self.identity = {"spec": repr(model.spec), "surrogate": repr(model.surrogate)}

    def duration(self, x: torch.Tensor) -> float:
        return x.shape[0] * self.dt

    def inputs(self, data: SpikeData, idx) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        x = data.to_dense(self.dt, n_steps=self.cfg.n_steps, indices=idx, device=device)
        return x, torch.as_tensor(data.labels[idx], device=device)

    def start_stats(self) -> dict:
        return {"per_neuron": None, "steps": 1}

    def add_stats(self, stats: dict, out, x, y, logits) -> None:
        sums = [n.sum().item() / n.shape[-1] for n in out.counts]  # per layer: Σ_batch spikes per neuron
        per_neuron = stats["per_neuron"]
        stats["per_neuron"] = sums if per_neuron is None else [a + b for a, b in zip(per_neuron, sums, strict=True)]
        stats["steps"] = x.shape[0]

    def finish_stats(self, stats: dict, n_seen: int) -> dict:
        per_neuron = [total / n_seen for total in stats["per_neuron"] or []]  # spikes per neuron per trial
        return {
            "rate": sum(per_neuron) / max(len(per_neuron), 1),
            "layer_rates": [rate / stats["steps"] for rate in per_neuron],
        }

    @staticmethod
    def test_metrics(stats: dict) -> dict:
        return {
            "test_accuracy": stats["accuracy"],
            "test_loss": stats["loss"],
            "test_rate": stats["rate"],
            **{f"rate_final_l{k + 1}": rate for k, rate in enumerate(stats["layer_rates"])},
        }


class EventTask(Task):
    """Continuous-time networks (``model.time == "continuous"``): inputs as padded spike times [B, n_in, K].
    Statistics (Bacho & Chu's monitors), per LIF layer l and evaluated split: ``spikes_l`` (spikes per sample),
    ``silent_l`` (fraction of neurons without a spike on the whole split) and ``saturated_l`` (fraction of (sample,
    neuron) pairs that used all K slots: with ``truncate`` those neurons were cut off); ``latency``: mean time of
    the predicted output neuron's first spike over the samples where it fired."""

    def __init__(self, model, cfg: TrainConfig, hooks=()):
        super().__init__(model, cfg)
        self.eval_batch = max(cfg.batch_size, EVENT_EVAL_BATCH)
        self.hooks = list(hooks)
        self.identity = {"spec": repr(model.spec), "engine": model.engine}

    def duration(self, x: torch.Tensor) -> float:
        return self.model.t_max

    def inputs(self, data: SpikeData, idx) -> tuple[torch.Tensor, torch.Tensor]:
        param = next(self.model.parameters())
        times, _ = data.to_padded(indices=idx, dtype=param.dtype)
        return times.to(param.device), torch.as_tensor(data.labels[idx], device=param.device)

    def start_stats(self) -> dict:
        return {"latency_sum": 0.0, "n_latency": 0, "spikes": None, "active": None, "saturated": None}

    def add_stats(self, stats: dict, out, x, y, logits) -> None:
        pred, times = logits.argmax(-1), out.spikes
        first = out.first_spike.gather(1, pred[:, None])[:, 0]
        stats["latency_sum"] += first[torch.isfinite(first)].sum().item()
        stats["n_latency"] += int(torch.isfinite(first).sum())
        spikes = [c.sum().item() for c in out.counts]
        active = [(c > 0).any(0) for c in out.counts]
        saturated = [(c == t.shape[-1]).sum().item() / c.shape[1] for c, t in zip(out.counts, times, strict=True)]
        if stats["spikes"] is None:
            stats.update(spikes=spikes, active=active, saturated=saturated)
        else:
            stats["spikes"] = [a + b for a, b in zip(stats["spikes"], spikes, strict=True)]
            stats["active"] = [a | b for a, b in zip(stats["active"], active, strict=True)]
            stats["saturated"] = [a + b for a, b in zip(stats["saturated"], saturated, strict=True)]

    def finish_stats(self, stats: dict, n_seen: int) -> dict:
        n_latency = stats["n_latency"]
        row = {"latency": stats["latency_sum"] / n_latency if n_latency else math.nan}
        lif_layers = [k for k, layer in enumerate(self.model.spec.layers) if layer.kind != "pool"]
        for j, k in enumerate(lif_layers):
            row[f"spikes_l{j + 1}"] = stats["spikes"][k] / n_seen
            row[f"silent_l{j + 1}"] = 1.0 - stats["active"][k].float().mean().item()
            row[f"saturated_l{j + 1}"] = stats["saturated"][k] / n_seen
        return row

    @staticmethod
    def test_metrics(stats: dict) -> dict:
        return {f"test_{k}": v for k, v in stats.items()}


def task_for(model, cfg: TrainConfig, hooks=()) -> Task:
    """The task of ``model``'s time (:class:`GridTask` or :class:`EventTask`)."""
    return (EventTask if model.time == "continuous" else GridTask)(model, cfg, hooks)


def _objective(task, out, x: torch.Tensor, y: torch.Tensor, epoch: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the task's loss plus every hook's term, logits) of a batch; ``epoch`` is None when evaluating."""
    loss, logits = task.loss(out, x, y)
    for hook in task.hooks:
        term = hook.loss(out, epoch, task.cfg.epochs)
        loss = loss if term is None else loss + term
    return loss, logits


def hook_records(hooks) -> list[dict]:
    """Each hook's name and settings, as stored in ``metrics.json`` and in the checkpoint identity."""
    return [{"hook": type(hook).__name__, **hook.settings} for hook in hooks]


def _evaluate(task, data: SpikeData) -> dict:
    n_seen, loss_sum, correct = 0, 0.0, 0
    stats = task.start_stats()
    task.model.eval()
    with torch.no_grad():
        for idx in data.batches(task.eval_batch, shuffle=False):
            x, y = task.inputs(data, idx)
            out = task.model(x)
            loss, logits = _objective(task, out, x, y, epoch=None)
            task.add_stats(stats, out, x, y, logits)
            n_seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
    assert n_seen == len(data), f"evaluated {n_seen}/{len(data)} samples"
    return {"loss": loss_sum / n_seen, "accuracy": correct / n_seen, **task.finish_stats(stats, n_seen)}


def evaluate(model, data: SpikeData, cfg: TrainConfig, hooks=()) -> dict:
    """Mean loss (with the hooks' evaluation terms), accuracy and the family's statistics (:class:`GridTask`,
    :class:`EventTask`) over every sample of ``data``."""
    return _evaluate(task_for(model, check_config(cfg), hooks), data)


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


def config_record(cfg: TrainConfig) -> dict:
    """``cfg`` as JSON-ready fields (the loss parameters by name), as stored in ``metrics.json``."""
    return {**cfg._asdict(), "loss_params": cfg.loss_params._asdict()}


def fit(
    model,
    train: SpikeData,
    validation: SpikeData,
    test: SpikeData,
    cfg: TrainConfig,
    out_dir: Path,
    record: dict | None = None,
    progress: bool = True,
    hooks: tuple[Hook, ...] = (),
) -> dict:
    """Train ``model`` on ``train``, select the epoch with the best validation accuracy, test it once.

    ``hooks`` (:mod:`spikegrad.hooks`) add the study's options. Resumes from ``out_dir/checkpoint.safetensors``
    when present; holds ``out_dir`` for the run (:func:`spikegrad.results.claim_run_dir`). ``record`` (network,
    dataset, ...) is stored in ``metrics.json`` beside the results. Returns the metrics dict.
    """
    task = task_for(model, check_config(cfg), hooks)
    with results.claim_run_dir(out_dir) as out_dir:
        return _fit(task, train, validation, test, Path(out_dir), record, progress)


def _train_epoch(task, data: SpikeData, epoch: int, lr: float, opt, schedule: dict, ckpt: Path) -> dict:
    """One pass over ``data`` in the (seed, epoch) batch order; returns the epoch's training statistics and the
    hooks' columns."""
    model, cfg = task.model, task.cfg
    model.train()
    n_seen, loss_sum, correct = 0, 0.0, 0
    batches = list(data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch))
    for b, idx in enumerate(batches):
        x, y = task.inputs(data, idx)
        out = model(x)
        loss, logits = _objective(task, out, x, y, epoch)
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
        schedule["batches"] += 1
        for hook in task.hooks:
            hook.after_step(model, x, out)
        n_seen += len(idx)
        loss_sum += loss.item() * len(idx)
        correct += (logits.argmax(-1) == y).sum().item()
    extras = {}
    for hook in task.hooks:
        extras.update(hook.end_epoch(model, len(batches)))
    return {"train_loss": loss_sum / n_seen, "train_accuracy": correct / n_seen, "extras": extras}


def _fit(task, train, validation, test, out_dir: Path, record, progress) -> dict:
    model, cfg = task.model, task.cfg
    ckpt = out_dir / "checkpoint.safetensors"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -1.0}
    schedule = {"fast": None, "slow": None, "halvings": 0, "last_halving": 0, "batches": 0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    identity = {"train_config": config_record(cfg), **task.identity, "hooks": hook_records(task.hooks)}
    restored = load_checkpoint(ckpt, model, opt, identity)
    if restored is not None:
        meta, best_state = restored
        history, best, schedule = meta["history"], meta["best"], meta["schedule"]
        write_history(out_dir, history)  # the re-run of a killed job may have removed it

    bar = tqdm(range(len(history), cfg.epochs), desc=out_dir.name, disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        lr = learning_rate(cfg, epoch, schedule["halvings"])
        data = apply(train, cfg.augment, seed=cfg.seed, epoch=epoch) if cfg.augment else train
        trained = _train_epoch(task, data, epoch, lr, opt, schedule, ckpt)
        seconds = time.perf_counter() - t0
        val = _evaluate(task, validation)
        if cfg.schedule == "ema_halving":
            _update_halving(schedule, val["accuracy"], epoch, cfg.halving_every)
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": trained["train_loss"],
            "train_accuracy": trained["train_accuracy"],
            **{f"val_{k}": v for k, v in val.items() if not isinstance(v, list)},
            "seconds": seconds,
            **trained["extras"],
        }
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
    seconds = [row["seconds"] for row in history]
    metrics = {
        **task.test_metrics(_evaluate(task, test)),
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["accuracy"],
        "final_train_accuracy": history[-1]["train_accuracy"],
        "train_seconds": sum(seconds),
        "seconds_per_epoch": sum(seconds) / len(seconds),
        "n_train": len(train),
        "n_validation": len(validation),
        "n_test": len(test),
        "train_config": config_record(cfg),
        "hooks": hook_records(task.hooks),
        "versions": results.versions(),
        **(record or {}),
    }
    results.write_json(out_dir / "metrics.json", metrics)
    return metrics
