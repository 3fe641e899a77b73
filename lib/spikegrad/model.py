r"""Current-based leaky integrate-and-fire (LIF) neurons, integrated exactly on a time grid.

Continuous dynamics (Wunderlich & Pehle 2021, Sci. Rep. 11:12829, Table 1; Nowotny et al. arXiv 2212.01232):

.. math::

    \tau_m \frac{dV}{dt} = -V + I, \qquad \tau_s \frac{dI}{dt} = -I, \qquad
    I \leftarrow I + \sum_j w_{ij} \text{ at each presynaptic spike of } j.

With inputs on the grid t = nΔt, the solution over one step is exact (the GeNN/``genn_eventprop`` update):

.. math::

    I' = I_{n-1} + h_n, \qquad h_n = W x_n + W_\text{rec} z_{n-1}

    U_n = \alpha V_{n-1} + c\, I', \qquad I_n = \beta I'

    \alpha = e^{-\Delta t/\tau_m}, \quad \beta = e^{-\Delta t/\tau_s}, \quad
    c = \frac{\tau_s}{\tau_m - \tau_s}(\alpha - \beta)
    \quad (c = \tfrac{\Delta t}{\tau_m}\alpha \text{ if } \tau_m = \tau_s)

    z_n = \Theta(U_n - \vartheta), \qquad
    V_n = U_n (1 - z_n) \text{ (reset to zero)} \quad\text{or}\quad V_n = U_n - \vartheta z_n \text{ (subtract)}

U is the membrane voltage before the reset. A spike z_n is emitted at the end of step n. The non-spiking
leaky-integrator (LI) readout follows the same equations with ϑ = ∞ and reports its voltage averaged over each
step, Ū_n = (1/Δt)∫_{nΔt}^{(n+1)Δt} V dt (exact, :func:`step_average`), so that Σ_n w_n Ū_n Δt is the integral
∫ w(t) V dt of the papers' losses for weights constant over a step. State starts at rest (V = I = 0).
"""

import math
from typing import NamedTuple

import torch

RESETS = ("zero", "subtract")
READOUTS = ("li", "lif")


class LIFParams(NamedTuple):
    """Neuron parameters, named after the symbols in the module docstring."""

    tau_mem: float = 20.0  # τ_m, ms
    tau_syn: float = 5.0  # τ_s, ms
    threshold: float = 1.0  # ϑ, membrane units
    dt: float = 1.0  # Δt, ms
    reset: str = "zero"  # "zero" (V ← 0) or "subtract" (V ← V − ϑ)


class LIFState(NamedTuple):
    v: torch.Tensor  # V, membrane voltage after reset [B, N]
    i: torch.Tensor  # I, synaptic current [B, N]


class Decay(NamedTuple):
    alpha: float  # e^{−Δt/τ_m}
    beta: float  # e^{−Δt/τ_s}
    c: float  # input-current-to-voltage gain over one step


def check_params(p: LIFParams) -> LIFParams:
    """Raise ValueError for non-physical parameters; return ``p`` unchanged."""
    for name in ("tau_mem", "tau_syn", "dt"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"LIFParams.{name} must be a positive finite number of ms, got {value!r}")
    if not p.threshold > 0:
        raise ValueError(f"LIFParams.threshold must be positive, got {p.threshold!r}")
    if p.reset not in RESETS:
        raise ValueError(f"LIFParams.reset must be one of {RESETS}, got {p.reset!r}")
    return p


def decay_factors(p: LIFParams) -> Decay:
    """α, β and c of the exact one-step update (module docstring)."""
    check_params(p)
    alpha = math.exp(-p.dt / p.tau_mem)
    beta = math.exp(-p.dt / p.tau_syn)
    if math.isclose(p.tau_mem, p.tau_syn, rel_tol=1e-9):
        c = p.dt / p.tau_mem * alpha
    else:
        c = p.tau_syn / (p.tau_mem - p.tau_syn) * (alpha - beta)
    return Decay(alpha, beta, c)


def step_average_coefficients(p: LIFParams) -> tuple[float, float]:
    r"""(a₁, a₂) with Ū_n = a₁U_n + a₂U_{n−1}: the step average of a non-spiking LI trace (:func:`step_average`).

    Over a step, V(s) = e^{−s/τ_m} V_{n−1} + κ(s) I'_n, so Ū_n = p_V V_{n−1} + p_I I'_n with
    p_V = τ_m(1 − α)/Δt, p_I = (1/Δt)∫_0^{Δt} κ = τ_s(τ_m(1 − α) − τ_s(1 − β))/((τ_m − τ_s)Δt)
    (τ(1 − α(1 + Δt/τ))/Δt if τ_m = τ_s); with I'_n = (U_n − αU_{n−1})/c, a₁ = p_I/c and a₂ = p_V − αp_I/c.
    """
    alpha, beta, c = decay_factors(p)
    p_v = p.tau_mem * (1 - alpha) / p.dt
    if math.isclose(p.tau_mem, p.tau_syn, rel_tol=1e-9):
        p_i = p.tau_mem * (1 - alpha * (1 + p.dt / p.tau_mem)) / p.dt
    else:
        p_i = p.tau_syn * (p.tau_mem * (1 - alpha) - p.tau_syn * (1 - beta)) / ((p.tau_mem - p.tau_syn) * p.dt)
    return p_i / c, p_v - alpha * p_i / c


def step_average(u: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Ū_n = (1/Δt)∫ V dt over step n of a non-spiking LI trace U [T, ...] (U_n = V at the step's end), a two-tap
    filter of U (:func:`step_average_coefficients`)."""
    a1, a2 = step_average_coefficients(p)
    previous = torch.cat([torch.zeros_like(u[:1]), u[:-1]])
    return a1 * u + a2 * previous


def crossing_fraction(v0: torch.Tensor, u: torch.Tensor, threshold: float) -> torch.Tensor:
    """f ∈ [0, 1]: where inside a step V crossed ϑ, t = (n + f)Δt, by linear interpolation between V_{n−1} = v0
    and U_n = u, f = (ϑ − V_{n−1})/(U_n − V_{n−1}) (0 where U does not rise)."""
    return ((threshold - v0) / torch.where(u > v0, u - v0, 1.0)).clamp(0.0, 1.0)


def rest_state(batch: int, n: int, like: torch.Tensor) -> LIFState:
    """V = I = 0 for a [batch, n] layer, with the dtype and device of ``like``."""
    zeros = like.new_zeros(batch, n)
    return LIFState(zeros, zeros)


def membrane_step(v, i, h, alpha, beta, c):
    """The grid update of the module docstring before the spike: I' = I_{n−1} + h_n, U_n = αV_{n−1} + cI',
    I_n = βI'; returns (U_n, I', I_n). This is the one definition of the update: :func:`lif_step` and the PyTorch
    references of the kernels call it, and the compiled kernels (:mod:`spikegrad.kernels.lif_scan`,
    :mod:`~spikegrad.kernels.lif_scan_cpu`, :mod:`~spikegrad.kernels.eventprop`,
    :mod:`~spikegrad.kernels.eventprop_cpu`) spell out the same three lines in the same order, citing it."""
    i_in = i + h
    return alpha * v + c * i_in, i_in, beta * i_in


def after_reset(u, z, threshold, subtract: bool):
    """V_n = U_n − ϑz_n (reset by subtraction) or U_n(1 − z_n) (reset to zero), module docstring."""
    return u - threshold * z if subtract else u * (1 - z)


def lif_step(
    h: torch.Tensor, state: LIFState, p: LIFParams, spike_fn=None, detach_reset: bool = True
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """One exact step of the module docstring's update; ``spike_fn(U − ϑ)`` gives z (a surrogate spike).

    Returns (z_n, U_n, new state). ``spike_fn=None`` makes a non-spiking LI neuron (z = 0). With
    ``detach_reset`` the reset uses z without its gradient (the spike itself keeps it).
    """
    u, _, i_next = membrane_step(state.v, state.i, h, *decay_factors(p))
    if spike_fn is None:
        return torch.zeros_like(u), u, LIFState(u, i_next)
    z = spike_fn(u - p.threshold)
    z_reset = z.detach() if detach_reset else z
    return z, u, LIFState(after_reset(u, z_reset, p.threshold, p.reset == "subtract"), i_next)


class NetworkSpec(NamedTuple):
    """Layer sizes and neuron model of a feed-forward or recurrent LIF network with a non-spiking readout."""

    n_in: int
    n_hidden: tuple[int, ...]
    n_out: int
    recurrent: bool = False  # all-to-all recurrent weights in every hidden layer
    lif: LIFParams = LIFParams()
    readout: str = "li"  # "li": non-spiking leaky integrators (voltage losses); "lif": spiking (spike-time losses)


class WeightInit(NamedTuple):
    """Gaussian initial weights, N(mean, std²) with mean and std given in units of 1/sqrt(fan-in)."""

    mean: float = 0.0
    std: float = 1.0


def init_weights(
    spec: NetworkSpec,
    hidden: WeightInit = WeightInit(),
    readout: WeightInit = WeightInit(),
    recurrent: WeightInit = WeightInit(0.0, 0.1),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Weights named ``hidden.{k}.weight`` [n_k, n_{k-1}], ``hidden.{k}.recurrent`` [n_k, n_k], ``readout.weight``.

    Deterministic given ``seed``; each matrix is N(mean/√fan_in, (std/√fan_in)²).
    """
    if spec.n_in < 1 or spec.n_out < 1 or any(n < 1 for n in spec.n_hidden):
        raise ValueError(f"layer sizes must be positive, got {spec}")
    if spec.readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {spec.readout!r}")
    gen = torch.Generator().manual_seed(seed)

    def normal(n_out: int, n_in: int, init: WeightInit) -> torch.Tensor:
        scale = 1.0 / math.sqrt(n_in)
        w = torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * init.std + init.mean
        return (w * scale).to(dtype)

    weights = {}
    n_prev = spec.n_in
    for k, n in enumerate(spec.n_hidden):
        weights[f"hidden.{k}.weight"] = normal(n, n_prev, hidden)
        if spec.recurrent:
            weights[f"hidden.{k}.recurrent"] = normal(n, n, recurrent)
        n_prev = n
    weights["readout.weight"] = normal(spec.n_out, n_prev, readout)
    return weights
