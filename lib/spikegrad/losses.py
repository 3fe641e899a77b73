r"""Classification losses on the readout voltage U [T, B, C]; each returns (mean loss, logits [B, C]).

U_n is the readout's voltage averaged over step n (:func:`spikegrad.model.step_average`), so the weighted sums
below are the papers' integrals ∫ w(t) V dt with w held constant over each step. With s_n = (n + 1)/T the
relative time at the end of step n and y the label:

.. math::

    \text{weighted sums:}\quad z_k = \frac{1}{T}\sum_{n=0}^{T-1} w(s_n)\, U_{n,k}, \qquad
    L = -\log \operatorname{softmax}(z)_y

    w = 1 \;(\texttt{sum}), \quad e^{-s} \;(\texttt{sum\_weigh\_exp}), \quad 1 - s \;(\texttt{sum\_weigh\_linear}),
    \quad \frac{1}{1 + e^{(s - 0.5)/0.2}} \;(\texttt{sum\_weigh\_sigmoid})

    \texttt{max:}\quad z_k = \max_n U_{n,k}, \qquad L = -\log \operatorname{softmax}(z)_y

    \texttt{avg\_xentropy:}\quad L = \frac{1}{T}\sum_n -\log \operatorname{softmax}(U_n)_y,
    \quad z = \text{the } \texttt{sum} \text{ logits (for the prediction)}

Spike-time losses on the first-spike times t_k [B, C] of a LIF readout (ms; a silent neuron counts as t = T,
the trial's end) — Wunderlich & Pehle's time-to-first-spike loss with τ_0, τ_1, α:

.. math::

    \texttt{first\_spike\_exp:}\quad L = -\log \operatorname{softmax}(-t/\tau_0)_y + \alpha (e^{t_y/\tau_1} - 1),
    \qquad \texttt{first\_spike:}\quad L = -\log \operatorname{softmax}(-t/\tau_0)_y + \frac{\alpha}{1.01 T - t_y}

with logits −t/τ_0 (the earliest neuron wins). Silent neurons get no cross-entropy gradient; the regulariser's
gradient does reach a silent correct neuron, which the exact engines apply as a *phantom spike* at the trial end
(Nowotny et al.'s rule; :mod:`spikegrad.engines.eventprop`).

The spike-count loss of Bacho & Chu (arXiv 2212.09500, ``SpikeCountClassLoss``) on all output spike times
[B, C, K] of the continuous-time engines, with n_k the spike count of output k and targets n̂ (``true`` for the
label, ``false`` for the others):

.. math::

    \texttt{spike\_count:}\quad L = \tfrac12 \sum_k (\hat n_k - n_k)^2, \qquad
    \frac{\partial L}{\partial t_{k,i}} := \hat n_k - n_k \text{ for every spike } i \text{ of } k.

A count is piecewise constant in the weights, so its exact gradient is zero almost everywhere; the per-spike error
is a heuristic (dn_k/dt_{k,i} := −1 ms⁻¹: "firing earlier means firing more"), not an exact gradient. Its
prediction is the largest count, ties broken by the earliest first spike.

(Nowotny, Turner & Knight, arXiv 2212.01232: L_sum, L_sum_exp — "loss shaping" — and L_max; the per-step
cross-entropy is Wunderlich & Pehle's l_V; the weight functions follow ``genn_eventprop``'s ``LOSS_TYPE``
options.) The prediction is argmax_k z_k. Every loss is averaged over the batch. Losses are plain torch functions
of U, so every engine differentiates them the same way; for EventProp the gradient arriving at U is the
adjoint's drive.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

TIME_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sum": torch.ones_like,
    "sum_weigh_exp": lambda s: torch.exp(-s),
    "sum_weigh_linear": lambda s: 1.0 - s,
    "sum_weigh_sigmoid": lambda s: torch.sigmoid(-(s - 0.5) / 0.2),
}


def weighted_mean_over_time(voltage: torch.Tensor, weight: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """z_k = (1/T) Σ_n w(s_n) U_{n,k} with s_n = (n + 1)/T."""
    steps = voltage.shape[0]
    s = torch.arange(1, steps + 1, dtype=voltage.dtype, device=voltage.device) / steps
    return (weight(s) @ voltage.reshape(steps, -1)).view(voltage.shape[1:]) / steps  # no copy of U


def max_over_time(voltage: torch.Tensor) -> torch.Tensor:
    """z_k = max_n U_{n,k}."""
    return voltage.amax(dim=0)


def _weighted(name: str):
    def loss(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = weighted_mean_over_time(voltage, TIME_WEIGHTS[name])
        return F.cross_entropy(logits, labels), logits

    return loss


def _max(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = max_over_time(voltage)
    return F.cross_entropy(logits, labels), logits


def _avg_xentropy(voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    steps, batch, classes = voltage.shape
    per_step = F.cross_entropy(voltage.reshape(steps * batch, classes), labels.repeat(steps))
    return per_step, weighted_mean_over_time(voltage, TIME_WEIGHTS["sum"])


VOLTAGE_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    **{name: _weighted(name) for name in TIME_WEIGHTS},
    "max": _max,
    "avg_xentropy": _avg_xentropy,
}


class FirstSpikeParams(NamedTuple):
    tau0: float = 0.5  # τ_0, ms: softmax temperature of −t/τ_0
    tau1: float = 6.4  # τ_1, ms: time constant of the exp regulariser
    alpha: float = 3e-3  # α: regulariser strength


class _FillSilent(torch.autograd.Function):
    """t with +inf (silent) replaced by T; the gradient passes to every entry, silent ones included."""

    @staticmethod
    def forward(ctx, t, duration: float):
        return torch.where(torch.isinf(t), duration, t)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _first_spike(name: str):
    def loss(times, labels, duration: float, params: FirstSpikeParams) -> tuple[torch.Tensor, torch.Tensor]:
        t = _FillSilent.apply(times, duration)
        logits = -torch.where(torch.isinf(times), t.detach(), t) / params.tau0
        if params.alpha == 0:  # no regulariser (and no 0 · inf from e^{t/τ_1} overflowing in long trials)
            return F.cross_entropy(logits, labels), logits.detach()
        t_y = t.gather(1, labels[:, None])[:, 0]
        if name == "first_spike_exp":
            penalty = params.alpha * torch.expm1(t_y / params.tau1)
        else:
            penalty = params.alpha / (1.01 * duration - t_y)
        return F.cross_entropy(logits, labels) + penalty.mean(), logits.detach()

    return loss


SPIKE_TIME_LOSSES = {name: _first_spike(name) for name in ("first_spike_exp", "first_spike")}


def check_loss(name: str) -> str:
    if name not in READS:
        raise ValueError(f"unknown loss {name!r}; choose one of {list(READS)}")
    return name


def readout_for(name: str) -> str:
    """The readout a grid network needs for loss ``name``: "lif" (spike times) for the first-spike losses, "li"
    (voltage) for the voltage losses; ValueError for the losses of continuous-time networks."""
    reads = READS[check_loss(name)]
    if reads == "spike_times":
        raise ValueError(f"loss {name!r} reads the spike times of a continuous-time network (spikegrad.eventnet)")
    return "lif" if reads == "first_spike" else "li"


def first_spike_loss(
    name: str, times: torch.Tensor, labels: torch.Tensor, duration: float, params: FirstSpikeParams = FirstSpikeParams()
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spike-time loss ``name`` (module docstring) of first-spike times [B, C] (+inf = silent) in a trial of
    ``duration`` ms; returns (mean loss, logits −t/τ_0)."""
    if name not in SPIKE_TIME_LOSSES:
        raise ValueError(f"unknown spike-time loss {name!r}; choose one of {sorted(SPIKE_TIME_LOSSES)}")
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of ms, got {duration!r}")
    return SPIKE_TIME_LOSSES[name](times, labels, duration, params)


class _CountHeuristic(torch.autograd.Function):
    """n_k = number of finite times of output k; backward: ∂/∂t_{k,i} := −∂L/∂n_k at each spike (a heuristic)."""

    @staticmethod
    def forward(ctx, times):
        ctx.save_for_backward(times)
        return torch.isfinite(times).sum(-1).to(times.dtype)

    @staticmethod
    def backward(ctx, grad):
        (times,) = ctx.saved_tensors
        return torch.where(torch.isfinite(times), -grad[..., None], torch.zeros_like(times))


def spike_count_loss(
    times: torch.Tensor, labels: torch.Tensor, target_true: float, target_false: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``spike_count`` loss (module docstring) of output spike times [B, C, K] (+inf padding); returns (mean
    loss over the batch, logits = count + a tie-break by first-spike time)."""
    if times.ndim != 3:
        raise ValueError(f"spike_count needs output spike times [B, C, K], got shape {tuple(times.shape)}")
    counts = _CountHeuristic.apply(times)
    target = torch.full_like(counts, float(target_false)).scatter_(1, labels[:, None], float(target_true))
    loss = 0.5 * ((target - counts) ** 2).sum(1).mean()
    first = times[..., 0].detach()
    horizon = first[torch.isfinite(first)].max() + 1 if torch.isfinite(first).any() else first.new_tensor(1.0)
    tie_break = 0.5 * (1 - torch.where(torch.isfinite(first), first, horizon) / horizon)
    return loss, counts.detach() + tie_break


class RateRegularizer(NamedTuple):
    """Hidden spike-count regulariser (Nowotny et al.; GeNN's lbd_upper / lbd_lower around ν)."""

    nu: float = 14.0  # ν: target spikes per neuron per trial
    upper: float = 0.0  # strength where the batch-mean count exceeds ν
    lower: float = 0.0  # strength where it is below ν


def rate_penalty(counts: list[torch.Tensor], reg: RateRegularizer) -> torch.Tensor:
    r"""Σ_layers Σ_j ½ c_j (N̄_j − ν)², N̄_j = spikes of neuron j averaged over the batch (as in the paper's runs),
    c_j = ``upper`` if N̄_j > ν else ``lower``. Its gradient ∂/∂N_bj = c_j (N̄_j − ν)/N_batch is GeNN's per-spike
    λ_V jump."""
    total = counts[0].new_zeros(())
    for n in counts:
        excess = n.mean(0) - reg.nu
        strength = torch.where(excess > 0, reg.upper, reg.lower)
        total = total + 0.5 * (strength * excess**2).sum()
    return total


def sparsity_penalty(spikes: list[torch.Tensor], target: float) -> torch.Tensor:
    """Σ_layers (⟨z⟩ − target)², ⟨z⟩ the spike probability per step averaged over time, batch and neurons of a
    layer's spikes z [T, B, N] (Herranz-Celotti & Rouat's sparsity loss; also their initial-rate objective), a
    surrogate-gradient loss: it needs the dense spikes of a grid SG engine."""
    if not all(isinstance(z, torch.Tensor) for z in spikes):
        raise ValueError("the sparsity loss needs dense spikes z [T, B, N] (engine 'bptt' or 'sparse')")
    return sum((z.mean() - target) ** 2 for z in spikes)


def cross_entropy(name: str, voltage: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss ``name`` (module docstring) of readout voltages U [T, B, C]; returns (mean loss, logits)."""
    return VOLTAGE_LOSSES[check_loss(name)](voltage, labels)


class LossParams(NamedTuple):
    """The parameters of every loss, each read by the losses it names."""

    tau0: float = 0.5  # first_spike[_exp], ttfs: τ_0, ms, softmax temperature of −t/τ_0
    tau1: float = 6.4  # first_spike_exp: τ_1, ms
    alpha: float = 3e-3  # first_spike[_exp]: regulariser strength α (ttfs: 0)
    target_true: float = 15.0  # spike_count: target count of the label's output
    target_false: float = 3.0  # spike_count: of the others


def check_params(params: LossParams) -> LossParams:
    """Raise ValueError naming the first invalid field."""
    for name in ("tau0", "tau1"):
        if not (math.isfinite(getattr(params, name)) and getattr(params, name) > 0):
            raise ValueError(f"{name} must be a positive number of ms, got {getattr(params, name)!r}")
    for name in ("alpha", "target_true", "target_false"):
        if not (math.isfinite(getattr(params, name)) and getattr(params, name) >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {getattr(params, name)!r}")
    return params


# What each loss reads: the readout voltage U [T, B, C], the first-spike times [B, C] of a LIF readout, or all
# output spike times [B, C, K] of a continuous-time network.
READS = {
    **dict.fromkeys(VOLTAGE_LOSSES, "voltage"),
    **dict.fromkeys(SPIKE_TIME_LOSSES, "first_spike"),
    "ttfs": "spike_times",
    "spike_count": "spike_times",
}
LOSSES = tuple(READS)  # every loss, by name
GRID_LOSSES = tuple(name for name, reads in READS.items() if reads != "spike_times")  # of time-grid networks


def read(name: str, out) -> torch.Tensor:
    """What loss ``name`` reads (:data:`READS`) from a network's output (:class:`spikegrad.model.NetworkOutput`): the
    readout voltage, its first-spike times, or the spike times of the last layer."""
    reads = READS[check_loss(name)]
    return out.spikes[-1] if reads == "spike_times" else getattr(out, reads)


def compute(
    name: str, output: torch.Tensor, labels: torch.Tensor, duration: float, params: LossParams = LossParams()
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, logits [B, C]) of the loss ``name`` on the network output it reads (:data:`READS`) in a trial
    of ``duration`` ms. ``ttfs`` (Bacho & Chu's ``TTFSSoftmaxCrossEntropy``) is ``first_spike_exp`` with α = 0 on
    the first of the K output spikes."""
    reads = READS[check_loss(name)]
    if reads == "voltage":
        return cross_entropy(name, output, labels)
    if reads == "first_spike":
        first_spike = FirstSpikeParams(params.tau0, params.tau1, params.alpha)
        return first_spike_loss(name, output, labels, duration, first_spike)
    if name == "ttfs":
        ttfs = FirstSpikeParams(params.tau0, 1.0, 0.0)
        return first_spike_loss("first_spike_exp", output[..., 0], labels, duration, ttfs)
    return spike_count_loss(output, labels, params.target_true, params.target_false)
