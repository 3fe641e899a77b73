"""Stability conditions I–IV: hand-computed values, the paper's closed form for E_V[SG²], and the residuals of
the Jacobian equations recomputed independently by dense Riemann sums."""

import math

import pytest
import torch

from spikegrad.studies.surrogate.stability import (
    PAPER_SHARPNESS_RANGE,
    RESETS,
    NoSolution,
    dampening,
    expected_sg_squared,
    input_moments,
    recurrent_init,
    recurrent_mean,
    recurrent_variance,
    solve_sharpness,
    solve_tail,
    stabilize,
    voltage_range,
)
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

ALPHA, THETA = 0.9, 1.0
# rows are postsynaptic: S⁺ = [2, 0.5, 1], S⁻ = [-1, 0, -3]
W_SMALL = torch.tensor([[0.0, 2.0, -1.0], [0.5, 0.0, 0.0], [-3.0, 1.0, 0.0]])


def _layer(n: int = 50, n_in: int = 20, rec_std: float = 2.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_in = 0.5 * torch.randn(n, n_in, generator=g, dtype=torch.float64) / math.sqrt(n_in)
    w_rec = recurrent_init(n, 0.0, rec_std / math.sqrt(n), g, dtype=torch.float64)
    return w_in, w_rec


def _riemann_sg_squared(sg: SurrogateParams, y_min: float, y_max: float, theta: float, points: int = 200_000):
    """Midpoint rule for (1/(y_max − y_min)) ∫ SG(V − ϑ)² dV."""
    dv = (y_max - y_min) / points
    v = y_min + dv * (torch.arange(points, dtype=torch.float64) + 0.5)
    return (pseudo_derivative(v - theta, sg) ** 2).mean().item()


def _residual(w_in, w_rec, alpha, theta, reset, sg):
    """Condition IV's equation, written out from the paper with the range and E[W²] recomputed here."""
    n = w_rec.shape[0]
    w2 = (w_rec**2).sum().item() / (n * (n - 1))  # zero diagonal
    pos = torch.where(w_rec > 0, w_rec, 0).sum(1) + torch.where(w_in > 0, w_in, 0).sum(1)
    neg = torch.where(w_rec < 0, w_rec, 0).sum(1) + torch.where(w_in < 0, w_in, 0).sum(1)
    drop = theta if reset == "subtract" else 0.0
    y_max, y_min = pos.mean().item() / (1 - alpha), (neg.mean().item() - drop) / (1 - alpha)
    e = _riemann_sg_squared(sg, y_min, y_max, theta)
    if reset == "subtract":
        return -1 + alpha**2 + ((n - 1) * w2 + theta**2) * e
    if reset == "mult_memory":
        return -1 + alpha**2 / 2 + (n - 1) * w2 * e
    return -2 + alpha**2 + (n - 1) * w2 * e


def test_input_moments_hand_values():
    x = torch.tensor([[[0.0, 1.0]], [[1.0, 1.0]]])  # [T=2, B=1, n_in=2]
    mean, var = input_moments(x)
    assert (mean, var) == pytest.approx((0.75, 0.1875), rel=1e-12)
    with pytest.raises(ValueError, match=r"\[T, B, n_in\]"):
        input_moments(x[0])


@pytest.mark.parametrize(("reset", "expected"), [("subtract", 0.42), ("mult_memory", 0.36), ("mult_all", 0.12)])
def test_condition_one_hand_values(reset, expected):
    # n = 6, α = 0.8, ϑ = 1.5: (3 − 1.6)·1.5/5, (2 − 0.8)·1.5/5, 2·0.2·1.5/5
    assert recurrent_mean(6, 0.8, 1.5, reset) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("reset", "expected"), [("subtract", 0.375), ("mult_memory", 0.4296875), ("mult_all", 0.46875)]
)
def test_condition_two_hand_values(reset, expected):
    # n = 5, n_in = 8, Var(W_in) = 0.5, Bernoulli(0.5) input: drive = 0.5·0.5·8/4 = 0.5;
    # μ_rec (α = 0.5, ϑ = 1) = 0.5, 0.375, 0.25, so μ²/2 = 0.125, 0.0703125, 0.03125
    mu = recurrent_mean(5, 0.5, 1.0, reset)
    assert recurrent_variance(5, 8, 0.5, 0.5, 0.25, mu) == pytest.approx(expected, rel=1e-12)


def test_condition_two_raises_when_not_positive():
    with pytest.raises(ValueError, match=r"Condition II gives Var\(W_rec\) = -0.01.*μ²_rec/2 = 0.5"):
        recurrent_variance(5, 8, 0.49, 0.5, 0.25, 1.0)  # drive (0.25 + 0.25)·0.49·8/4 = 0.49 < 0.5


def test_condition_three_hand_values_use_rows_as_postsynaptic():
    # γ_j = S⁻_j (1 − α)/(S⁺_j (S⁻_j − ϑ)) with α = 0.5, ϑ = 1: −0.5/(2·−2), 0, −1.5/(1·−4)
    assert torch.allclose(dampening(W_SMALL, 0.5, 1.0, "subtract"), torch.tensor([0.125, 0.0, 0.375]).double())
    for reset in ("mult_memory", "mult_all"):
        assert torch.allclose(dampening(W_SMALL, 0.5, 1.0, reset), torch.tensor([0.25, 1.0, 0.5]).double())


def test_condition_three_satisfies_its_equation_on_random_weights():
    _, w = _layer(n=30, rec_std=1.0)
    s_plus, s_minus = torch.where(w > 0, w, 0).sum(1), torch.where(w < 0, w, 0).sum(1)
    gamma = dampening(w, ALPHA, THETA, "subtract")
    assert torch.allclose(gamma * s_plus * (s_minus - THETA) / s_minus, torch.full_like(gamma, 1 - ALPHA))
    assert torch.allclose(dampening(w, ALPHA, THETA, "mult_all"), (1 - ALPHA) / s_plus)


def test_condition_three_rejects_a_neuron_without_positive_weights():
    w = W_SMALL.clone()
    w[1, 0] = -0.5
    with pytest.raises(ValueError, match=r"neurons \[1\] have no positive recurrent weight"):
        dampening(w, 0.5, 1.0, "subtract")


def _exponential_closed_form(gamma, beta, y_min, y_max, theta, m=2):
    """The paper's E_V[SG^m] for SG = γ e^{−2β|v|}."""

    def f(u):
        return (1 - math.exp(-2 * m * u)) / (2 * m)

    def signed(y):
        return math.copysign(f(beta * abs(y - theta)), y - theta)

    return gamma**m / (beta * (y_max - y_min)) * (signed(y_max) - signed(y_min))


@pytest.mark.parametrize(
    ("gamma", "beta", "y_min", "y_max"),
    [  # above ϑ, below ϑ, straddling; one-sided ranges kept where the closed form does not cancel to 0
        (1.0, 1.5, 1.2, 2.0),
        (0.3, 0.05, 3.0, 40.0),
        (1.0, 1.5, -3.0, 0.4),
        (2.0, 0.2, -30.0, -2.0),
        (1.0, 1.5, -5.0, 7.0),
        (0.3, 0.05, -40.0, 30.0),
        (2.0, 25.0, -40.0, 30.0),
    ],
)
def test_exponential_moment_matches_the_papers_closed_form(gamma, beta, y_min, y_max):
    sg = SurrogateParams("exponential", sharpness=beta, dampening=gamma)
    expected = _exponential_closed_form(gamma, beta, y_min, y_max, THETA)
    assert expected > 0
    assert expected_sg_squared(sg, y_min, y_max, THETA) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    "shape", ["triangular", "gaussian", "sigmoid", "fast_sigmoid", "rectangular", "q_pseudospike", "cauchy"]
)
def test_moment_of_other_shapes_matches_monte_carlo(shape):
    sg = SurrogateParams(shape, sharpness=0.8, dampening=0.7, tail=1.5)
    y_min, y_max = -3.0, 5.0
    v = y_min + (y_max - y_min) * torch.rand(1_000_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    monte_carlo = (pseudo_derivative(v - THETA, sg) ** 2).mean().item()
    assert expected_sg_squared(sg, y_min, y_max, THETA) == pytest.approx(monte_carlo, rel=1e-2)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("shape", ["exponential", "fast_sigmoid", "gaussian", "triangular"])
def test_condition_four_sharpness_zeroes_the_jacobian_equation(reset, shape):
    w_in, w_rec = _layer()
    sg = SurrogateParams(shape, dampening=1.0)
    beta = solve_sharpness(w_in, w_rec, ALPHA, THETA, reset, sg)
    assert 1e-3 < beta < 1e3
    assert _residual(w_in, w_rec, ALPHA, THETA, reset, sg._replace(sharpness=beta)) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("shape", ["exponential", "cauchy"])
def test_condition_four_is_sharper_for_stronger_recurrence(reset, shape):
    w_in, w_rec = _layer()
    sg = SurrogateParams(shape, dampening=1.0)
    betas = [solve_sharpness(w_in, scale * w_rec, ALPHA, THETA, reset, sg) for scale in (1.0, 2.0, 4.0)]
    assert betas[0] < betas[1] < betas[2]


def test_condition_four_reports_when_no_sharpness_fits():
    w_in, w_rec = _layer()
    with pytest.raises(ValueError, match=r"Condition IV: no sharpness β in \[0.001, 1000\]"):
        solve_sharpness(w_in, w_rec, ALPHA, THETA, "mult_all", SurrogateParams("exponential", dampening=0.1))


def test_condition_four_tail_recovers_the_fast_sigmoid_and_zeroes_the_equation():
    w_in, w_rec = _layer()
    beta = solve_sharpness(w_in, w_rec, ALPHA, THETA, "subtract", SurrogateParams("fast_sigmoid", dampening=1.0))
    sg = SurrogateParams("q_pseudospike", sharpness=beta, dampening=1.0)
    assert solve_tail(w_in, w_rec, ALPHA, THETA, "subtract", sg) == pytest.approx(2.0, rel=1e-6)  # q = 2: fast_sigmoid
    softer = sg._replace(sharpness=0.8 * beta)
    q = solve_tail(w_in, w_rec, ALPHA, THETA, "subtract", softer)
    assert 1.01 < q < 2.0
    assert _residual(w_in, w_rec, ALPHA, THETA, "subtract", softer._replace(tail=q)) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="Condition IV-tail: no tail q"):
        solve_tail(w_in, w_rec, ALPHA, THETA, "subtract", sg._replace(sharpness=100 * beta))


def test_voltage_range_averages_the_sums_over_neurons():
    w_in = torch.tensor([[1.0, -2.0], [0.0, 0.5], [-1.0, 0.0]])
    # S⁺ rec + in = [2 + 1, 0.5 + 0.5, 1 + 0] → mean 5/3; S⁻ = [−1 − 2, 0, −3 − 1] → mean −7/3; α = 0.5
    assert voltage_range(w_in, W_SMALL, 0.5, 1.0, "subtract") == pytest.approx((-20 / 3, 10 / 3))
    assert voltage_range(w_in, W_SMALL, 0.5, 1.0, "mult_memory") == pytest.approx((-14 / 3, 10 / 3))


def test_stabilize_one_and_two_resample_the_recurrent_weights():
    n, n_in = 400, 100
    w_in = torch.randn(n, n_in, generator=torch.Generator().manual_seed(0)) / math.sqrt(n_in)
    w_rec = torch.zeros(n, n)
    sg = SurrogateParams("exponential")
    out = stabilize(w_in, w_rec, ALPHA, THETA, "subtract", sg, 0.2, 0.3, ["I", "II"], seed=3)
    mu = recurrent_mean(n, ALPHA, THETA, "subtract")
    var = recurrent_variance(n, n_in, w_in.double().var(correction=0).item(), 0.2, 0.3, mu)
    assert (out.rec_mean, out.rec_std) == pytest.approx((mu, math.sqrt(var)), rel=1e-12)
    assert out.sg == sg and out.w_rec.dtype == w_rec.dtype
    assert torch.all(out.w_rec.diagonal() == 0)
    off = out.w_rec[~torch.eye(n, dtype=torch.bool)]
    assert off.mean().item() == pytest.approx(mu, abs=5 * math.sqrt(var / off.numel()))
    assert off.std().item() == pytest.approx(math.sqrt(var), rel=0.02)
    again = stabilize(w_in, w_rec, ALPHA, THETA, "subtract", sg, 0.2, 0.3, ["I", "II"], seed=3)
    assert torch.equal(again.w_rec, out.w_rec)


def test_stabilize_with_only_condition_one_keeps_the_given_spread():
    w_in, w_rec = _layer(n=400)
    out = stabilize(w_in, w_rec, ALPHA, THETA, "mult_all", SurrogateParams(), 0.5, 0.25, ["I"], seed=0)
    assert out.rec_std is None
    off, before = (w[~torch.eye(400, dtype=torch.bool)] for w in (out.w_rec, w_rec))
    assert off.mean().item() == pytest.approx(recurrent_mean(400, ALPHA, THETA, "mult_all"), abs=5e-4)
    assert off.std().item() == pytest.approx(before.std().item(), rel=0.02)


def test_stabilize_without_conditions_passes_everything_through():
    w_in, w_rec = _layer()
    sg = SurrogateParams("gaussian", sharpness=2.0, dampening=0.4)
    out = stabilize(w_in, w_rec, ALPHA, THETA, "subtract", sg, 0.5, 0.25, [], seed=0)
    assert out.w_rec is w_rec and out.rec_mean is None and out.rec_std is None and out.sg == sg


def test_stabilize_three_and_four_set_dampening_then_sharpness():
    w_in, _ = _layer()
    w_rec = recurrent_init(50, -0.1, 0.1, torch.Generator().manual_seed(1), dtype=torch.float64)  # inhibitory
    sg = SurrogateParams("fast_sigmoid", sharpness=7.0, dampening=1.0)
    out = stabilize(w_in, w_rec, 0.5, THETA, "mult_memory", sg, 0.5, 0.25, ("III", "IV"), seed=0)
    gamma = dampening(w_rec, 0.5, THETA, "mult_memory").mean().item()
    beta = solve_sharpness(w_in, w_rec, 0.5, THETA, "mult_memory", sg._replace(dampening=gamma))
    assert out.w_rec is w_rec and out.sharpness_solved is True
    assert out.sg == SurrogateParams("fast_sigmoid", sharpness=beta, dampening=gamma)


def test_stabilize_three_then_four_falls_back_to_the_papers_search_on_a_balanced_network():
    """III's γ ≈ (1 − α)/S⁺ is so small that E_V[SG²] ≤ γ² stays below IV's target for any β: solve_sharpness
    says so, and stabilize takes the paper's solver's answer, the β in [0.3, 1.6] closest to the target (the
    widest SG, 0.3, since E_V[SG²] falls with β)."""
    w_in, w_rec = _layer()
    sg = SurrogateParams()
    gamma = dampening(w_rec, ALPHA, THETA, "subtract").mean().item()
    with pytest.raises(NoSolution, match="Condition IV: no sharpness"):
        solve_sharpness(w_in, w_rec, ALPHA, THETA, "subtract", sg._replace(dampening=gamma))
    out = stabilize(w_in, w_rec, ALPHA, THETA, "subtract", sg, 0.5, 0.25, ["III", "IV"], seed=0)
    assert out.sharpness_solved is False
    assert out.sg == SurrogateParams(sharpness=pytest.approx(PAPER_SHARPNESS_RANGE[0]), dampening=gamma)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpha": 1.0}, r"alpha must lie in \(0, 1\)"),
        ({"alpha": 0.0}, r"alpha must lie in \(0, 1\)"),
        ({"theta": 0.0}, "theta must be a positive number"),
        ({"reset": "zero"}, "reset must be one of"),
        ({"conditions": ["I", "V"]}, r"unknown stability conditions \['V'\]"),
        ({"w_rec": torch.zeros(1, 1), "w_in": torch.zeros(1, 3)}, "n >= 2"),
        ({"w_rec": torch.zeros(4, 3)}, "w_rec must be square"),
        ({"w_in": torch.zeros(3, 5)}, r"w_in must be \[n, n_in\] with n = 4"),
    ],
)
def test_stabilize_rejects_bad_arguments(change, message):
    args = {
        "w_in": torch.zeros(4, 5),
        "w_rec": torch.zeros(4, 4),
        "alpha": ALPHA,
        "theta": THETA,
        "reset": "subtract",
        "sg": SurrogateParams(),
        "input_mean": 0.5,
        "input_var": 0.25,
        "conditions": ["I"],
        "seed": 0,
    }
    with pytest.raises(ValueError, match=message):
        stabilize(**(args | change))
