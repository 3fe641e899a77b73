"""Study options of the training loop (:func:`spikegrad.train.fit`) as small hooks, so that one loop serves every
study. A hook may add a term to the objective, act after each optimiser step and act at the end of each epoch
(before validation), returning columns for that epoch's history row. Hooks run in the order given.

From Nowotny, Turner & Knight's final SHD model (arXiv 2212.01232, ``genn_eventprop``): :class:`RatePenalty`
(hidden spike counts held near ν), :class:`Rewire` (silent-neuron rewiring) and :class:`TrackChanges` (hidden
spikes created and deleted by each update). From Herranz-Celotti & Rouat (arXiv 2202.00282): :class:`SparsityPenalty`
(switched on gradually). Engine reports: :class:`ActiveFraction` (the sparse engine's active sets) and
:class:`ClampTau` (learned time constants kept valid); :func:`spikegrad.train.fit` adds these two to grid
networks itself.
"""

import math

import torch

from spikegrad.losses import RateRegularizer, rate_penalty, sparsity_penalty


class Hook:
    """No-op base: override what the option needs. ``settings`` (JSON-ready) name the option, with its class, in
    a run's ``metrics.json`` and checkpoint identity (:func:`spikegrad.train.hook_records`), so that a run resumed
    with other options starts afresh."""

    settings: dict = {}

    def loss(self, out, epoch: int | None, epochs: int):
        """A term added to the objective of network output ``out`` (None: nothing); ``epoch`` is None when
        evaluating (validation and test losses include the terms that do not depend on the epoch)."""
        return None

    def after_step(self, model, x: torch.Tensor, out) -> None:
        """Called after each optimiser step with the batch input ``x`` and the output before the step."""

    def end_epoch(self, model, n_batches: int) -> dict:
        """Called once the epoch's batches are done, before validation; returns extra history columns."""
        return {}


class RatePenalty(Hook):
    """+ :func:`spikegrad.losses.rate_penalty` of the hidden spike counts (training and evaluation)."""

    def __init__(self, nu: float, upper: float, lower: float):
        self.target = RateRegularizer(nu, upper, lower)
        self.settings = self.target._asdict()

    def loss(self, out, epoch, epochs):
        return rate_penalty(out.counts, self.target)


def sparsity_switch(epoch: int, epochs: int) -> float:
    """s(e) = clip((e/E − 0.2)/0.4, 0, 1) for 0-based epoch e of E: off for the first 20 %, full from 60 %."""
    return min(max((epoch / epochs - 0.2) / 0.4, 0.0), 1.0)


class SparsityPenalty(Hook):
    """+ s(e)·``weight``·Σ_layers (⟨z⟩ − ``target``)² during training (:func:`sparsity_switch`)."""

    def __init__(self, weight: float, target: float):
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"the sparsity weight must be a non-negative number, got {weight!r}")
        if not 0 <= target <= 1:
            raise ValueError(f"sparsity_target must be a spike probability in [0, 1], got {target!r}")
        self.weight, self.target = weight, target
        self.settings = {"weight": weight, "target": target}

    def loss(self, out, epoch, epochs):
        strength = 0.0 if epoch is None else self.weight * sparsity_switch(epoch, epochs)
        return strength * sparsity_penalty(out.spikes, self.target) if strength > 0 else None


class Rewire(Hook):
    """+``amount`` to every incoming feed-forward weight of hidden neurons without a spike in the epoch."""

    def __init__(self, amount: float):
        self.amount, self.counts = amount, None
        self.settings = {"amount": amount}

    def after_step(self, model, x, out):
        if self.counts is None:
            self.counts = [torch.zeros(len(layer.weight), device=x.device) for layer in model.hidden]
        for total, n in zip(self.counts, out.counts, strict=True):
            total += n.detach().sum(0)

    def end_epoch(self, model, n_batches):
        with torch.no_grad():
            for layer, counts in zip(model.hidden, self.counts, strict=True):
                layer.weight[counts == 0] += self.amount
        self.counts = None
        return {}


class TrackChanges(Hook):
    """Hidden spikes each update created and deleted on its batch (one extra forward pass per batch): per sample
    and neuron the rise or fall of its spike count (a spike that only moved is neither), summed over layers;
    history columns ``spikes_created`` and ``spikes_deleted`` (mean per batch)."""

    def __init__(self):
        self.changes = {"created": 0.0, "deleted": 0.0}

    def after_step(self, model, x, out):
        with torch.no_grad():
            for old, new in zip(out.counts, model(x).counts, strict=True):
                change = new - old
                self.changes["created"] += change.clamp(min=0).sum().item()
                self.changes["deleted"] += (-change).clamp(min=0).sum().item()

    def end_epoch(self, model, n_batches):
        row = {f"spikes_{k}": v / n_batches for k, v in self.changes.items()}
        self.changes = {"created": 0.0, "deleted": 0.0}
        return row


class ActiveFraction(Hook):
    """History columns ``active_l<k>``: layer k's active fraction averaged over the epoch's batches, when the
    engine reports active sets (sparse)."""

    def __init__(self):
        self.sums, self.reported = None, False

    def after_step(self, model, x, out):
        self.reported = bool(out.active)
        if out.active and self.sums is None:
            self.sums = list(out.active)
        elif out.active:
            self.sums = [a + f for a, f in zip(self.sums, out.active, strict=True)]

    def end_epoch(self, model, n_batches):
        row = {f"active_l{k + 1}": a / n_batches for k, a in enumerate(self.sums)} if self.reported else {}
        self.sums, self.reported = None, False
        return row


class ClampTau(Hook):
    """Keep learned time constants valid after each step (:meth:`spikegrad.network.SNN.clamp_tau`)."""

    def after_step(self, model, x, out):
        model.clamp_tau()
