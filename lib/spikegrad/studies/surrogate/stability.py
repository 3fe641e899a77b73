r"""The four stability conditions of Herranz-Celotti & Rouat ("Stabilizing Spiking Neuron Training", arXiv 2202.00282),
computed before training from the network, the data statistics and the surrogate-gradient (SG) shape.

They are derived for a recurrent layer of n LIF neurons with n_in inputs, W_in [n, n_in] and W_rec [n, n]
(row j postsynaptic, column i presynaptic, zero diagonal), decay α = e^{−Δt/τ} and threshold ϑ:

.. math::

    I_t = W_\text{in} x_t + W_\text{rec} z_{t-1} + b, \qquad z_t = \Theta(V_t - \vartheta),
    \qquad \frac{\partial z_t}{\partial V_t} := \mathrm{SG}(V_t - \vartheta)

    \texttt{subtract:}\; V_t = \alpha V_{t-1} + I_t - \vartheta z_{t-1}, \qquad
    \texttt{mult\_memory:}\; V_t = \alpha V_{t-1}(1 - z_{t-1}) + I_t, \qquad
    \texttt{mult\_all:}\; V_t = (\alpha V_{t-1} + I_t)(1 - z_{t-1})

(``mult_memory`` and ``mult_all`` are the paper's ``multreset2`` and ``multreset1``.) Per neuron j the positive
and negative synaptic sums are S⁺_j = Σ_i relu(W[j, i]) and S⁻_j = −Σ_i relu(−W[j, i]) ≤ 0 (:func:`weight_sums`).

- Condition I, the recurrent mean (:func:`recurrent_mean`), and II, the recurrent variance
  (:func:`recurrent_variance`), set the recurrent initialisation (:func:`recurrent_init`).
- Condition III, the dampening γ (:func:`dampening`), a worst-case bound keeping ∂V_t/∂V_{t−1} ≤ 1 (our reading).
- Condition IV, the sharpness β (:func:`solve_sharpness`), or the tail fatness q of ``q_pseudospike``
  (:func:`solve_tail`), makes the expected squared Jacobian equal 1, with V uniform on the reachable range
  (:func:`voltage_range`) and E_V[SG²] computed by quadrature for any shape (:func:`expected_sg_squared`).

:func:`stabilize` applies a chosen subset in that order: III and IV see the recurrent weights re-sampled by I/II.
"""

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import torch

from spikegrad.sgnet import RESETS
from spikegrad.surrogate import SurrogateParams, check_surrogate, pseudo_derivative

CONDITIONS = ("I", "II", "III", "IV")
SPIKE_INPUT_MOMENTS = (0.5, 0.25)  # (μ_in, σ²_in) of Bernoulli(0.5) spikes: the paper's input to deeper layers
SHARPNESS_BRACKET = (1e-3, 1e3)  # β searched by Condition IV
TAIL_BRACKET = (1.01, 100.0)  # q searched by Condition IV-tail
PAPER_SHARPNESS_RANGE = (0.3, 1.6)  # β range of the paper's random-search solver, used when IV has no root

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)
_FINEST_OCTAVE = -20  # first piece ends at |V − ϑ| = 2^−20/β, below every shape's width (q_pseudospike: (q − 1)/2β)


class NoSolution(ValueError):
    """Condition IV (or IV-tail) has no root in its search bracket."""


class Stabilized(NamedTuple):
    """What :func:`stabilize` returns; ``rec_mean``/``rec_std`` are None where Condition I/II was off."""

    w_rec: torch.Tensor  # recurrent weights [n, n]: re-sampled if I or II is on, else the input
    rec_mean: float | None  # μ_rec of Condition I
    rec_std: float | None  # sqrt(Var(W_rec)) of Condition II
    sg: SurrogateParams  # γ from Condition III, β from Condition IV
    sharpness_solved: bool | None  # IV: True if β solves its equation, False if it fell back; None if IV was off


def _check_neuron(alpha: float, theta: float, reset: str) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"decay alpha must lie in (0, 1), got {alpha!r}")
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"threshold theta must be a positive number, got {theta!r}")
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def _check_size(n: int) -> None:
    if n < 2:
        raise ValueError(f"the conditions need n >= 2 recurrent neurons (they divide by n - 1), got n = {n}")


def _check_weights(w_in: torch.Tensor, w_rec: torch.Tensor) -> int:
    """Return n after checking W_rec is [n, n] and W_in is [n, n_in]."""
    if w_rec.ndim != 2 or w_rec.shape[0] != w_rec.shape[1]:
        raise ValueError(f"w_rec must be square [n, n], got shape {tuple(w_rec.shape)}")
    n = w_rec.shape[0]
    _check_size(n)
    if w_in.ndim != 2 or w_in.shape[0] != n:
        raise ValueError(f"w_in must be [n, n_in] with n = {n}, got shape {tuple(w_in.shape)}")
    return n


def _off_diagonal(w: torch.Tensor) -> torch.Tensor:
    """The n(n − 1) off-diagonal entries of a square matrix, in float64."""
    mask = ~torch.eye(w.shape[0], dtype=torch.bool, device=w.device)
    return w.detach().to(torch.float64)[mask]


def input_moments(x: torch.Tensor) -> tuple[float, float]:
    """(μ_in, σ²_in): mean and (population) variance over all entries of a dense input [T, B, n_in]."""
    if x.ndim != 3 or x.numel() == 0:
        raise ValueError(f"input must be a non-empty dense tensor [T, B, n_in], got shape {tuple(x.shape)}")
    x = x.detach().to(torch.float64)
    return x.mean().item(), x.var(correction=0).item()


def weight_sums(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(S⁺, S⁻) per postsynaptic row j: S⁺_j = Σ_i relu(W[j, i]), S⁻_j = −Σ_i relu(−W[j, i]), in float64."""
    w = w.detach().to(torch.float64)
    return w.clamp(min=0).sum(dim=1), w.clamp(max=0).sum(dim=1)


def recurrent_mean(n: int, alpha: float, theta: float, reset: str) -> float:
    """Condition I: μ_rec = (3 − 2α)ϑ/(n − 1) (subtract), (2 − α)ϑ/(n − 1) (mult_memory), 2(1 − α)ϑ/(n − 1)
    (mult_all)."""
    _check_neuron(alpha, theta, reset)
    _check_size(n)
    factor = {"subtract": 3 - 2 * alpha, "mult_memory": 2 - alpha, "mult_all": 2 * (1 - alpha)}[reset]
    return factor * theta / (n - 1)


def recurrent_variance(
    n: int, n_in: int, w_in_var: float, input_mean: float, input_var: float, rec_mean: float
) -> float:
    """Condition II: Var(W_rec) = (σ²_in + μ²_in)·Var(W_in)·n_in/(n − 1) − μ²_rec/2.

    The input moments (μ_in, σ²_in) are the data's for the first layer and :data:`SPIKE_INPUT_MOMENTS` deeper.
    Raises ValueError when the result is not positive.
    """
    _check_size(n)
    if n_in < 1 or w_in_var < 0 or input_var < 0:
        raise ValueError(f"need n_in >= 1, Var(W_in) >= 0 and σ²_in >= 0, got {n_in}, {w_in_var}, {input_var}")
    drive = (input_var + input_mean**2) * w_in_var * n_in / (n - 1)
    offset = rec_mean**2 / 2
    if drive <= offset:
        raise ValueError(
            f"Condition II gives Var(W_rec) = {drive - offset:.4g} <= 0: the input term "
            f"(σ²_in + μ²_in)·Var(W_in)·n_in/(n − 1) = ({input_var:.4g} + {input_mean:.4g}²)·{w_in_var:.4g}·{n_in}/"
            f"{n - 1} = {drive:.4g} does not exceed μ²_rec/2 = {offset:.4g} (μ_rec = {rec_mean:.4g})"
        )
    return drive - offset


def recurrent_init(
    n: int, mean: float, std: float, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """W_rec [n, n] with off-diagonal entries N(mean, std²) and a zero diagonal, on ``generator``'s device."""
    _check_size(n)
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"std must be a non-negative number, got {std!r}")
    w = mean + std * torch.randn(n, n, generator=generator, dtype=dtype, device=generator.device)
    return w.fill_diagonal_(0.0)


def dampening(w_rec: torch.Tensor, alpha: float, theta: float, reset: str) -> torch.Tensor:
    """Condition III with no input dampening (γ_in = 0): γ_j = S⁻_j (1 − α) / (S⁺_j (S⁻_j − ϑ)) per neuron j [n].

    The sums are over W_rec's row j; the multiplicative resets take ϑ → 0, i.e. γ_j = (1 − α)/S⁺_j. The paper's
    general form has (1 − α − n_in γ_in S⁺) in place of (1 − α); γ_in = 0 holds for the first layer and is the
    paper's default deeper too. The caller takes the mean over j.
    """
    _check_neuron(alpha, theta, reset)
    s_plus, s_minus = weight_sums(w_rec)
    silent = torch.nonzero(s_plus <= 0).flatten().tolist()
    if silent:
        raise ValueError(f"Condition III needs S⁺_j > 0, but neurons {silent[:10]} have no positive recurrent weight")
    if reset == "subtract":
        return s_minus * (1 - alpha) / (s_plus * (s_minus - theta))
    return (1 - alpha) / s_plus


def voltage_range(
    w_in: torch.Tensor, w_rec: torch.Tensor, alpha: float, theta: float, reset: str
) -> tuple[float, float]:
    """(y_min, y_max) = (mean_j(S⁻_rec,j + S⁻_in,j − ϑ), mean_j(S⁺_rec,j + S⁺_in,j)) / (1 − α).

    The multiplicative resets drop the −ϑ. These bound V for inputs and spikes in [0, 1]. The paper keeps them
    per neuron and averages the per-neuron solutions of Condition IV; averaging the range over neurons first (as
    here) is a simplification.
    """
    _check_neuron(alpha, theta, reset)
    _check_weights(w_in, w_rec)
    rec_plus, rec_minus = weight_sums(w_rec)
    in_plus, in_minus = weight_sums(w_in)
    reset_drop = theta if reset == "subtract" else 0.0
    y_min = (rec_minus + in_minus).mean().item() - reset_drop
    y_max = (rec_plus + in_plus).mean().item()
    return y_min / (1 - alpha), y_max / (1 - alpha)


def _breakpoints(lo: float, hi: float, sharpness: float) -> np.ndarray:
    """Ends of the pieces of [lo, hi] in u = V − ϑ: splits at 0 and ±2^k/β, so on each piece SG is smooth and
    |u| at most doubles (kinks of the shapes sit at |u| = 0, 1/(2β), 1/β)."""
    top = math.ceil(math.log2(sharpness * max(abs(lo), abs(hi))))
    octaves = np.ldexp(1.0, np.arange(_FINEST_OCTAVE, max(top, _FINEST_OCTAVE) + 1)) / sharpness
    cuts = np.concatenate([-octaves, [0.0], octaves])
    return np.unique(np.concatenate([[lo, hi], cuts[(cuts > lo) & (cuts < hi)]]))


def expected_sg_squared(sg: SurrogateParams, y_min: float, y_max: float, theta: float) -> float:
    """E_V[SG(V − ϑ)²] = (1/(y_max − y_min)) ∫_{y_min}^{y_max} SG(V − ϑ)² dV for V uniform on [y_min, y_max].

    Composite 20-point Gauss-Legendre in float64 on pieces split at ϑ and geometrically away from it
    (:func:`_breakpoints`), so it is accurate for any shape, however sharp. It is non-increasing in β at fixed γ
    for every shape, since SG(v) = γ g(βv) with g non-increasing in |v|.
    """
    check_surrogate(sg)
    if not y_max > y_min:
        raise ValueError(f"the voltage range needs y_max > y_min, got [{y_min!r}, {y_max!r}]")
    ends = _breakpoints(y_min - theta, y_max - theta, sg.sharpness)
    half, mid = np.diff(ends) / 2, (ends[1:] + ends[:-1]) / 2
    u = torch.from_numpy((mid[:, None] + half[:, None] * _GL_NODES).ravel())
    weights = torch.from_numpy((half[:, None] * _GL_WEIGHTS).ravel())
    return (weights * pseudo_derivative(u, sg) ** 2).sum().item() / (y_max - y_min)


def required_sg_squared(w_rec: torch.Tensor, alpha: float, theta: float, reset: str) -> float:
    """The E_V[SG²] at which Condition IV's expected squared recurrent Jacobian equals 1, i.e. the root of

    subtract: −1 + α² + ((n − 1)E[W²_rec] + ϑ²)·E_V[SG²];  mult_memory: −1 + α²/2 + (n − 1)E[W²_rec]·E_V[SG²];
    mult_all: −2 + α² + (n − 1)E[W²_rec]·E_V[SG²];  with E[W²_rec] the mean square of W_rec's off-diagonal entries.
    """
    _check_neuron(alpha, theta, reset)
    n = w_rec.shape[0]
    _check_size(n)
    recurrent = (n - 1) * _off_diagonal(w_rec).square().mean().item()
    constant, gain = {
        "subtract": (1 - alpha**2, recurrent + theta**2),
        "mult_memory": (1 - alpha**2 / 2, recurrent),
        "mult_all": (2 - alpha**2, recurrent),
    }[reset]
    if gain <= 0:
        raise ValueError("Condition IV needs non-zero recurrent weights for a multiplicative reset")
    return constant / gain


def _geometric_bisection(f: Callable[[float], float], lo: float, hi: float) -> float | None:
    """Root of f on [lo, hi] (0 < lo < hi) by bisection in log x; None if f(lo), f(hi) share a sign."""
    f_lo, f_hi = f(lo), f(hi)
    if f_lo == 0 or f_hi == 0:
        return lo if f_lo == 0 else hi
    if (f_lo > 0) == (f_hi > 0):
        return None
    while hi / lo > 1 + 1e-12:
        mid = math.sqrt(lo * hi)
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def solve_sharpness(
    w_in: torch.Tensor, w_rec: torch.Tensor, alpha: float, theta: float, reset: str, sg: SurrogateParams
) -> float:
    """Condition IV: the β in :data:`SHARPNESS_BRACKET` with E_V[SG²] = :func:`required_sg_squared`, γ held fixed.

    V is uniform on :func:`voltage_range`. The paper solves this per neuron for the exponential SG by random
    search; here one β for the neuron-averaged range, any shape, by bisection in log β (E_V[SG²] is monotone).
    """
    y_min, y_max = voltage_range(w_in, w_rec, alpha, theta, reset)  # validates the arguments first
    target = required_sg_squared(w_rec, alpha, theta, reset)

    def moment(beta: float) -> float:
        return expected_sg_squared(sg._replace(sharpness=beta), y_min, y_max, theta)

    beta = _geometric_bisection(lambda b: moment(b) - target, *SHARPNESS_BRACKET)
    if beta is None:
        lo, hi = SHARPNESS_BRACKET
        raise NoSolution(
            f"Condition IV: no sharpness β in [{lo:g}, {hi:g}] gives E_V[SG²] = {target:.4g}; with γ = "
            f"{sg.dampening:.4g} E_V[SG²] runs from {moment(lo):.4g} to {moment(hi):.4g} there (never above γ²)"
        )
    return beta


def closest_sharpness(
    w_in: torch.Tensor, w_rec: torch.Tensor, alpha: float, theta: float, reset: str, sg: SurrogateParams
) -> float:
    """The β in :data:`PAPER_SHARPNESS_RANGE` whose E_V[SG²] comes closest to Condition IV's target (on a log grid
    of 201 points): what the paper's solver (the argmin of the squared residual over random β in that range)
    returns when the equation has no root, e.g. after Condition III has made γ² smaller than the target."""
    target = required_sg_squared(w_rec, alpha, theta, reset)
    y_min, y_max = voltage_range(w_in, w_rec, alpha, theta, reset)
    grid = np.geomspace(*PAPER_SHARPNESS_RANGE, 201)
    residual = [abs(expected_sg_squared(sg._replace(sharpness=b), y_min, y_max, theta) - target) for b in grid]
    return float(grid[int(np.argmin(residual))])


def solve_tail(
    w_in: torch.Tensor, w_rec: torch.Tensor, alpha: float, theta: float, reset: str, sg: SurrogateParams
) -> float:
    """Condition IV-tail: the q_pseudospike tail q in :data:`TAIL_BRACKET` with E_V[SG²] = :func:`required_sg_squared`
    at the given β and γ, by bisection in log(q − 1)."""
    if sg.shape != "q_pseudospike":
        raise ValueError(f"Condition IV-tail applies to the q_pseudospike shape, got {sg.shape!r}")
    y_min, y_max = voltage_range(w_in, w_rec, alpha, theta, reset)  # validates the arguments first
    target = required_sg_squared(w_rec, alpha, theta, reset)

    def moment(q: float) -> float:
        return expected_sg_squared(sg._replace(tail=q), y_min, y_max, theta)

    lo, hi = TAIL_BRACKET
    excess = _geometric_bisection(lambda s: moment(1 + s) - target, lo - 1, hi - 1)
    if excess is None:
        raise NoSolution(
            f"Condition IV-tail: no tail q in [{lo:g}, {hi:g}] gives E_V[SG²] = {target:.4g} at "
            f"β = {sg.sharpness:.4g}, γ = {sg.dampening:.4g}; E_V[SG²] is {moment(lo):.4g} at q = {lo:g} and "
            f"{moment(hi):.4g} at q = {hi:g}"
        )
    return 1 + excess


def stabilize(
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    alpha: float,
    theta: float,
    reset: str,
    sg: SurrogateParams,
    input_mean: float,
    input_var: float,
    conditions: Iterable[str],
    seed: int,
) -> Stabilized:
    """Apply the chosen conditions (a subset of :data:`CONDITIONS`) to one layer, in order I, II, III, IV.

    I and II re-sample W_rec with :func:`recurrent_init` (seeded by ``seed``; same dtype and device); the moment
    that is off is taken from the given W_rec's off-diagonal entries, and so is μ_rec in II when I is off.
    Var(W_in) is the variance of W_in's entries. III sets γ to the mean of :func:`dampening`; IV then sets β
    by :func:`solve_sharpness` at that γ or, where no β solves it, by :func:`closest_sharpness` as the paper's
    solver does (``sharpness_solved`` tells which). The tail q is left as given (see :func:`solve_tail`).
    """
    chosen = set(conditions)
    unknown = chosen - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown stability conditions {sorted(unknown)}; choose from {CONDITIONS}")
    _check_neuron(alpha, theta, reset)
    n = _check_weights(w_in, w_rec)
    check_surrogate(sg)
    current = _off_diagonal(w_rec)
    rec_mean = recurrent_mean(n, alpha, theta, reset) if "I" in chosen else None
    mean = current.mean().item() if rec_mean is None else rec_mean
    rec_std = None
    if "II" in chosen:
        w_in_var = w_in.detach().to(torch.float64).var(correction=0).item()
        rec_std = math.sqrt(recurrent_variance(n, w_in.shape[1], w_in_var, input_mean, input_var, mean))
    if chosen & {"I", "II"}:
        std = current.std(correction=0).item() if rec_std is None else rec_std
        generator = torch.Generator().manual_seed(seed)
        w_rec = recurrent_init(n, mean, std, generator, dtype=w_rec.dtype).to(w_rec.device)
    if "III" in chosen:
        sg = check_surrogate(sg._replace(dampening=dampening(w_rec, alpha, theta, reset).mean().item()))
    solved = None
    if "IV" in chosen:
        try:
            beta, solved = solve_sharpness(w_in, w_rec, alpha, theta, reset, sg), True
        except NoSolution:
            beta, solved = closest_sharpness(w_in, w_rec, alpha, theta, reset, sg), False
        sg = sg._replace(sharpness=beta)
    return Stabilized(w_rec, rec_mean, rec_std, sg, solved)
