r"""Continuous-time LIF layers simulated event by event, with exact spike times: the model shared by the three
exact engines (:mod:`~spikegrad.engines.spiketime`, :mod:`~spikegrad.engines.adjoint`,
:mod:`~spikegrad.engines.forwardprop`).

Dynamics (Wunderlich & Pehle 2021; Bacho & Chu arXiv 2212.09500 with w = τ_m w_BATS; Göltz et al. 2021), time
in ms, for neuron n driven by input spikes t_j^f of channel j:

.. math::

    \tau_m \dot V_n = -V_n + I_n, \qquad \tau_s \dot I_n = -I_n, \qquad I_n \leftarrow I_n + w_{nj}
    \text{ at } t_j^f, \qquad V_n(t_k^-) = \vartheta \Rightarrow \text{spike } t_k,\ V_n \leftarrow 0,

with τ_m = 2τ_s (spike times from a quadratic) or τ_m = τ_s (Lambert W); see :mod:`spikegrad.kernels.event_sim`.
Equivalently, for t between events,

.. math::

    V_n(t) = \sum_{j,f:\, t_j^f < t} w_{nj}\,\kappa(t - t_j^f) - \vartheta \sum_{m:\, t_m < t} e^{-(t - t_m)/\tau_m},
    \qquad \kappa(s) = \frac{\tau_s}{\tau_m - \tau_s}\left(e^{-s/\tau_m} - e^{-s/\tau_s}\right)
    \ \left(= \tfrac{s}{\tau_m} e^{-s/\tau_m} \text{ if } \tau_m = \tau_s\right).

By the implicit function theorem at V_n(t_k) = ϑ, with the slope V̇_k = V̇_n(t_k⁻) = (I_n(t_k) − ϑ)/τ_m,

.. math::

    \frac{\partial t_k}{\partial w_{nj}} = -\frac{\sum_f \kappa(t_k - t_j^f)}{\dot V_k}, \qquad
    \frac{\partial t_k}{\partial t_j^f} = \frac{w_{nj}\,\kappa'(t_k - t_j^f)}{\dot V_k}, \qquad
    \frac{\partial t_k}{\partial t_m} = \frac{\vartheta\, e^{-(t_k - t_m)/\tau_m}}{\tau_m \dot V_k}
    \quad (m < k,\ \text{own earlier spikes, through the reset}),

each sum over the spikes before t_k. The engines differ only in the order in which they apply this chain rule.
A neuron keeps at most K spikes (``EventOptions.max_spikes``); more raise :class:`BufferOverflow` unless
``truncate`` is set, in which case the neuron falls silent after its K-th spike and the gradients are those of
that truncated network (K = 1: Fast & Deep's single-spike neuron).
"""

import math
from typing import NamedTuple

import torch

from spikegrad.engines.options import BufferOverflow
from spikegrad.kernels.event_sim import RATIOS, event_sim_forward, stream_order
from spikegrad.model import LIFParams, check_params

SLOPE_FLOOR = 1e-9  # V̇_k ≥ SLOPE_FLOOR·ϑ/τ_m: guards 1/V̇ at grazing crossings (never reached in the tests)


class EventOptions(NamedTuple):
    max_spikes: int = 1  # K, spike slots per neuron
    t_max: float = 100.0  # ms; the simulation ends here (inputs and spikes after it are dropped)
    truncate: bool = False  # True: a neuron is silent after its K-th spike; False: a K+1-th spike raises


def ratio_of(lif: LIFParams) -> int:
    """τ_m / τ_s, which must be 1 or 2 (the closed forms); raises ValueError otherwise."""
    check_params(lif)
    for ratio in RATIOS:
        if math.isclose(lif.tau_mem, ratio * lif.tau_syn, rel_tol=1e-12):
            return ratio
    raise ValueError(
        f"the event simulator needs tau_mem = 2*tau_syn or tau_mem = tau_syn, got {lif.tau_mem}, {lif.tau_syn}"
    )


def check_options(options: EventOptions) -> EventOptions:
    if not (isinstance(options.max_spikes, int) and options.max_spikes >= 1):
        raise ValueError(f"max_spikes must be a positive integer, got {options.max_spikes!r}")
    if not (math.isfinite(options.t_max) and options.t_max > 0):
        raise ValueError(f"t_max must be a positive finite number of ms, got {options.t_max!r}")
    return options


def input_stream(in_times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The spikes of ``in_times [B, N_in, K_in]`` (+inf padding) as one ascending stream per sample:
    ``times [B, Q]`` (differentiable, +inf padding) and ``channels [B, Q]``, Q = the most spikes of any sample."""
    if in_times.ndim != 3:
        raise ValueError(f"input spike times must be [B, N_in, K_in], got shape {tuple(in_times.shape)}")
    B, _, K_in = in_times.shape
    flat = in_times.reshape(B, -1)
    order = stream_order(flat.detach())
    return flat.gather(1, order), order // K_in


def simulate(in_times: torch.Tensor, weight: torch.Tensor, lif: LIFParams, options: EventOptions):
    """Run one layer (no gradient): input stream (times, channels), output times [B, N, K] and the current at
    each output spike [B, N, K]. Raises :class:`BufferOverflow` unless ``options.truncate``."""
    ratio, options = ratio_of(lif), check_options(options)
    if in_times.shape[1] != weight.shape[1]:
        raise ValueError(f"input has {in_times.shape[1]} channels but weight is {tuple(weight.shape)}")
    times, channels = input_stream(in_times)
    with torch.no_grad():
        out, current, overflow = event_sim_forward(
            times.detach(),
            channels,
            weight.detach(),
            lif.tau_mem,
            ratio,
            lif.threshold,
            options.t_max,
            options.max_spikes,
        )
    if not options.truncate and bool(overflow.any()):
        b, n = (int(x) for x in overflow.nonzero()[0])
        raise BufferOverflow(
            f"neuron {n} of sample {b} fires more than max_spikes={options.max_spikes} times before "
            f"t_max={options.t_max} ms; raise max_spikes or set truncate=True"
        )
    return times, channels, out, current


def slope(current: torch.Tensor, lif: LIFParams) -> torch.Tensor:
    """V̇(t_k⁻) = (I(t_k) − ϑ)/τ_m at each spike, floored at SLOPE_FLOOR·ϑ/τ_m."""
    return ((current - lif.threshold) / lif.tau_mem).clamp(min=SLOPE_FLOOR * lif.threshold / lif.tau_mem)


def kappa_max(ratio: int) -> float:
    """max_s κ(s) (module docstring, with I = 1 at s = 0): 1/4 for τ_m = 2τ_s (at s = 2τ_s ln 2), 1/e for
    τ_m = τ_s (at s = τ_m)."""
    if ratio not in RATIOS:
        raise ValueError(f"τ_m/τ_s must be one of {RATIOS}, got {ratio}")
    return 0.25 if ratio == 2 else 1 / math.e


def kappa(s: torch.Tensor, lif: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """κ(s) and κ'(s) of the module docstring, zero where s ≤ 0 or s is not finite (a spike not yet arrived)."""
    live = (s > 0) & torch.isfinite(s)
    s = torch.where(live, s, torch.zeros_like(s))
    em = torch.exp(-s / lif.tau_mem)
    if ratio_of(lif) == 1:
        k, dk = s / lif.tau_mem * em, em * (1 - s / lif.tau_mem) / lif.tau_mem
    else:
        es = torch.exp(-s / lif.tau_syn)
        c = lif.tau_syn / (lif.tau_mem - lif.tau_syn)
        k, dk = c * (em - es), c * (es / lif.tau_syn - em / lif.tau_mem)
    zero = torch.zeros_like(s)
    return torch.where(live, k, zero), torch.where(live, dk, zero)


def finite_grad(grad: torch.Tensor | None, times: torch.Tensor) -> torch.Tensor:
    """The incoming gradient of spike times with the padding (+inf, no spike) entries zeroed."""
    if grad is None:
        return torch.zeros_like(times)
    return torch.where(torch.isfinite(times), grad, torch.zeros_like(grad))
