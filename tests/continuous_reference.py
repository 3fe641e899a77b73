r"""Continuous-time, event-driven reference simulation of a current-based LIF network (one sample, float64).

The ground truth for finite-difference checks of the exact-gradient engines: spike times are found to near machine
precision, so outputs are smooth in the weights and input spike times wherever no spike is created or deleted.

Dynamics (Wunderlich & Pehle 2021, Sci. Rep. 11:12829, Table 1), time in ms:

.. math::

    \tau_m \frac{dV}{dt} = -V + I, \qquad \tau_s \frac{dI}{dt} = -I, \qquad
    I_i \leftarrow I_i + w_{ij} \text{ at each spike of input or presynaptic neuron } j.

Between events, s after the state (V_0, I_0), with d = 1/τ_s − 1/τ_m:

.. math::

    V(s) = e^{-s/\tau_m} V_0 + \kappa(s) I_0, \qquad I(s) = e^{-s/\tau_s} I_0,

    \kappa(s) = \frac{\tau_s}{\tau_m - \tau_s}\left(e^{-s/\tau_m} - e^{-s/\tau_s}\right)
    = \frac{e^{-s/\tau_m}}{\tau_m}\,\frac{1 - e^{-s d}}{d}
    \quad \left(= \tfrac{s}{\tau_m} e^{-s/\tau_m} \text{ if } \tau_m = \tau_s\right).

The second form (with ``expm1``) is used; it is accurate for all τ_m, τ_s. V has at most one extremum between events
(where V = I), at s_e = −log1p(d q)/d with q = τ_s (V_0 − I_0)/I_0 (s_e = −q if d = 0).

A spiking neuron spikes at the first t* with V(t*) = ϑ (reached from below); then V ← 0 (zero reset; no refractory
period). Its spike reaches the next layer, and through the recurrent weights its own layer (itself included), at t*.
A non-spiking (leaky-integrator readout) layer follows the same equations and never resets.

Crossings are found per interval between events: V is evaluated at the interval's end and at its interior extremum;
the first monotone piece that reaches ϑ brackets the root, refined by bracketed Newton / bisection. By the implicit
function theorem, dt*/dw = −(∂V/∂w)(t*) / V̇(t*⁻).
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from spikegrad.model import LIFParams, check_params

_EPS = np.finfo(np.float64).eps


class Layer(NamedTuple):
    """Weights of one layer; layer k is driven by the spikes of layer k − 1 (layer 0 by the inputs)."""

    weight: np.ndarray  # W, [N, N_in]
    recurrent: np.ndarray | None  # W_rec, [N, N], or None (feed-forward)
    spiking: bool = True  # False: non-spiking leaky integrator (readout), never resets


class Simulation(NamedTuple):
    """Result of :func:`simulate`."""

    spike_times: list[list[np.ndarray]]  # per layer, per neuron: sorted spike times (ms); empty if non-spiking
    voltage: np.ndarray  # [len(sample_times), N_last]: pre-reset V of the last layer at each sample time


class _Free(NamedTuple):
    """Closed-form free evolution of the module docstring for fixed τ_m, τ_s."""

    tau_mem: float
    tau_syn: float
    d: float  # 1/τ_s − 1/τ_m

    def phi(self, s: float) -> float:
        """(1 − e^{−sd})/d, or s if d = 0; κ(s) = e^{−s/τ_m} φ(s)/τ_m."""
        return s if self.d == 0.0 else -math.expm1(-s * self.d) / self.d

    def v(self, v0: float, i0: float, s: float) -> float:
        return math.exp(-s / self.tau_mem) * (v0 + i0 * self.phi(s) / self.tau_mem)

    def dv(self, v0: float, i0: float, s: float) -> float:
        """dV/ds = (I(s) − V(s))/τ_m."""
        return (i0 * math.exp(-s / self.tau_syn) - self.v(v0, i0, s)) / self.tau_mem

    def extremum(self, v0: float, i0: float) -> float | None:
        """s > 0 where dV/ds = 0, or None if there is none."""
        if i0 == 0.0:
            return None
        q = self.tau_syn * (v0 - i0) / i0
        if self.d == 0.0:
            s = -q
        else:
            arg = self.d * q
            if arg <= -1.0:
                return None
            s = -math.log1p(arg) / self.d
        return s if s > 0.0 else None

    def advance(self, v: np.ndarray, i: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
        """State (V, I) after s ms without events."""
        e_m = math.exp(-s / self.tau_mem)
        return e_m * (v + i * self.phi(s) / self.tau_mem), i * math.exp(-s / self.tau_syn)


def _rising_root(free: _Free, v0: float, i0: float, theta: float, lo: float, hi: float) -> float:
    """Root of V(s) = ϑ in [lo, hi], where V rises, V(lo) < ϑ ≤ V(hi): bracketed Newton with bisection fallback."""
    s = 0.5 * (lo + hi)
    for _ in range(200):
        f = free.v(v0, i0, s) - theta
        if f == 0.0:
            return s
        if f < 0.0:
            lo = s
        else:
            hi = s
        df = free.dv(v0, i0, s)
        s_new = s - f / df if df > 0.0 else math.nan
        if not lo < s_new < hi:  # also catches nan
            s_new = 0.5 * (lo + hi)
        if abs(s_new - s) <= 2 * _EPS * s_new or hi - lo <= 2 * _EPS * hi:
            return s_new
        s = s_new
    return s


def _first_crossing(free: _Free, v0: float, i0: float, theta: float, span: float) -> float | None:
    """First s in [0, span] with V(s) = ϑ reached from below, or None; s = 0 if V_0 ≥ ϑ already (round-off)."""
    if v0 >= theta:
        return 0.0
    if span <= 0.0:
        return None
    s_e = free.extremum(v0, i0)
    knots = [0.0] + ([s_e] if s_e is not None and s_e < span else []) + [span]
    for lo, hi in zip(knots[:-1], knots[1:], strict=True):  # V is monotone on each piece
        if free.v(v0, i0, hi) >= theta:  # first piece reaching ϑ; V(lo) < ϑ, so V rises on it
            return _rising_root(free, v0, i0, theta, lo, hi)
    return None


def _check_times(times: np.ndarray, what: str) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of times, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{what} must be finite, got {times}")
    return times


def _check_layers(layers: Sequence[Layer], n_in: int) -> list[Layer]:
    if len(layers) == 0:
        raise ValueError("need at least one layer")
    checked = []
    for k, layer in enumerate(layers):
        w = np.asarray(layer.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise ValueError(f"layers[{k}].weight must have shape [N, {n_in}], got {w.shape}")
        rec = layer.recurrent
        if rec is not None:
            rec = np.asarray(rec, dtype=np.float64)
            if rec.shape != (w.shape[0], w.shape[0]):
                raise ValueError(f"layers[{k}].recurrent must have shape {(w.shape[0],) * 2}, got {rec.shape}")
            if not layer.spiking:
                raise ValueError(f"layers[{k}] is non-spiking and cannot have recurrent weights")
        if not (np.all(np.isfinite(w)) and (rec is None or np.all(np.isfinite(rec)))):
            raise ValueError(f"layers[{k}] has non-finite weights")
        if not layer.spiking and k != len(layers) - 1:
            raise ValueError(f"only the last layer may be non-spiking, but layers[{k}] is")
        checked.append(Layer(w, rec, bool(layer.spiking)))
        n_in = w.shape[0]
    return checked


def _simulate_layer(
    in_times: list[np.ndarray],
    layer: Layer,
    free: _Free,
    theta: float,
    t_end: float,
    sample_times: np.ndarray,
    max_spikes: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Spike times of each neuron and V at the (sorted) sample times, for one layer driven by ``in_times``."""
    n = layer.weight.shape[0]
    channels = np.concatenate([np.full(len(t), j) for j, t in enumerate(in_times)] + [np.zeros(0, int)])
    times = np.concatenate(list(in_times) + [np.zeros(0)])
    keep = times <= t_end
    order = np.argsort(times[keep], kind="stable")
    ev_times, ev_channels = times[keep][order], channels[keep][order]

    v, i = np.zeros(n), np.zeros(n)
    spikes: list[list[float]] = [[] for _ in range(n)]
    samples = np.zeros((len(sample_times), n))
    k_ev, k_sample, t = 0, int(np.searchsorted(sample_times, 0.0, side="right")), 0.0  # V = 0 at t = 0
    while True:
        t_in = ev_times[k_ev] if k_ev < len(ev_times) else math.inf
        horizon = min(t_in, t_end)
        s_fire, fired = math.inf, []
        if layer.spiking:
            for j in range(n):
                s = _first_crossing(free, v[j], i[j], theta, horizon - t)
                if s is not None and s < s_fire:
                    s_fire, fired = s, [j]
                elif s is not None and s == s_fire:
                    fired.append(j)
        t_next = min(t + s_fire, horizon)
        while k_sample < len(sample_times) and sample_times[k_sample] <= t_next:  # samples in (t, t_next]
            samples[k_sample] = free.advance(v, i, sample_times[k_sample] - t)[0]
            k_sample += 1
        v, i = free.advance(v, i, t_next - t)
        t = t_next
        if fired:
            for j in fired:
                spikes[j].append(t)
                if len(spikes[j]) > max_spikes:
                    raise RuntimeError(f"neuron {j} fired more than max_spikes_per_neuron={max_spikes} times by {t} ms")
            v[fired] = 0.0
            if layer.recurrent is not None:
                i = i + layer.recurrent[:, fired].sum(axis=1)
        elif t_in <= t_end:
            while k_ev < len(ev_times) and ev_times[k_ev] == t_in:
                i = i + layer.weight[:, ev_channels[k_ev]]
                k_ev += 1
        else:
            return [np.asarray(s, dtype=np.float64) for s in spikes], samples


def simulate(
    input_times: Sequence[np.ndarray],
    layers: Sequence[Layer],
    lif: LIFParams,
    t_end: float,
    sample_times: np.ndarray,
    *,
    max_spikes_per_neuron: int = 1000,
) -> Simulation:
    """Simulate the network of the module docstring on [0, t_end] from rest, for one sample.

    ``input_times[j]``: spike times (ms, ≥ 0, any order, repeats allowed) of input channel j; those after t_end
    are ignored. ``lif`` gives τ_m, τ_s, ϑ and the reset (only ``"zero"``); its Δt is ignored. ``sample_times``
    (in [0, t_end], any order) are where the last layer's V is returned, taken before any reset at that instant.
    Raises RuntimeError if a neuron fires more than ``max_spikes_per_neuron`` times.
    """
    check_params(lif)
    if lif.reset != "zero":
        raise ValueError(f"only reset='zero' is supported, got {lif.reset!r}")
    if not (math.isfinite(t_end) and t_end > 0):
        raise ValueError(f"t_end must be a positive finite number of ms, got {t_end!r}")
    if max_spikes_per_neuron < 1:
        raise ValueError(f"max_spikes_per_neuron must be positive, got {max_spikes_per_neuron!r}")
    in_times = [_check_times(t, f"input_times[{j}]") for j, t in enumerate(input_times)]
    if any(np.any(t < 0) for t in in_times):
        raise ValueError("input spike times must be >= 0")
    layers = _check_layers(layers, len(in_times))
    sample_times = _check_times(sample_times, "sample_times")
    if np.any(sample_times < 0) or np.any(sample_times > t_end):
        raise ValueError(f"sample_times must lie in [0, t_end={t_end}]")

    free = _Free(float(lif.tau_mem), float(lif.tau_syn), 1.0 / lif.tau_syn - 1.0 / lif.tau_mem)
    order = np.argsort(sample_times, kind="stable")
    all_spikes = []
    samples = np.zeros((len(sample_times), 0))
    for k, layer in enumerate(layers):
        last = k == len(layers) - 1
        sampled = sample_times[order] if last else np.zeros(0)
        spikes, samples = _simulate_layer(
            in_times, layer, free, float(lif.threshold), float(t_end), sampled, max_spikes_per_neuron
        )
        all_spikes.append(spikes)
        in_times = spikes
    voltage = np.empty_like(samples)
    voltage[order] = samples
    return Simulation(all_spikes, voltage)
