"""The SG family: Heaviside forward, the peak and area identities, and the limits that relate the shapes."""

import math

import pytest
import torch

from spikegrad.surrogate import SURROGATES, SurrogateParams, pseudo_derivative, spike

_R = torch.logspace(-9, 7, 400_001, dtype=torch.float64)
V = torch.cat([-_R.flip(0), torch.zeros(1, dtype=torch.float64), _R])  # fine near 0, wide for the 1/v² tails


def test_forward_is_the_heaviside_step():
    x = torch.tensor([-1.0, -1e-6, 0.0, 1e-6, 2.0])
    for shape in SURROGATES:
        assert spike(x, SurrogateParams(shape)).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("shape", sorted(SURROGATES))
@pytest.mark.parametrize(("gamma", "beta"), [(1.0, 1.0), (0.3, 2.5), (1.5, 0.7)])
def test_peak_is_dampening_and_area_is_dampening_over_sharpness(shape, gamma, beta):
    p = SurrogateParams(shape, sharpness=beta, dampening=gamma, tail=3.0)
    assert pseudo_derivative(torch.zeros(1, dtype=torch.float64), p).item() == pytest.approx(gamma, rel=1e-12)
    sg = pseudo_derivative(V, p)
    assert sg.max().item() == pytest.approx(gamma, rel=1e-12)
    area = torch.trapezoid(sg, V).item()
    assert area == pytest.approx(gamma / beta, rel=2e-4)  # rectangular's jumps cost the trapezoid rule ~1e-4


@pytest.mark.parametrize("shape", sorted(SURROGATES))
def test_backward_is_the_pseudo_derivative(shape):
    p = SurrogateParams(shape, sharpness=2.0, dampening=0.5, tail=4.0)
    v = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    g = torch.randn(41, dtype=torch.float64)
    (grad,) = torch.autograd.grad(spike(v, p), v, g)
    assert torch.equal(grad, g * pseudo_derivative(v.detach(), p))


def test_fast_sigmoid_is_the_derivative_of_the_fast_sigmoid():
    """SuperSpike's σ'(x) = 1/(1 + k|x|)² with k = 2β is the derivative of x/(1 + k|x|)."""
    v = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad((v / (1 + 10 * v.abs())).sum(), v)
    assert torch.allclose(pseudo_derivative(v.detach(), SurrogateParams("fast_sigmoid", sharpness=5.0)), expected)


def test_q_pseudospike_with_q_two_is_the_fast_sigmoid():
    a = pseudo_derivative(V, SurrogateParams("q_pseudospike", sharpness=1.3, dampening=0.7, tail=2.0))
    b = pseudo_derivative(V, SurrogateParams("fast_sigmoid", sharpness=1.3, dampening=0.7))
    assert torch.allclose(a, b, rtol=1e-13, atol=0)


def test_q_pseudospike_tends_to_the_exponential_as_q_grows():
    v = torch.linspace(-3, 3, 601, dtype=torch.float64)
    exp = pseudo_derivative(v, SurrogateParams("exponential", sharpness=1.0))
    errors = [
        (pseudo_derivative(v, SurrogateParams("q_pseudospike", sharpness=1.0, tail=q)) - exp).abs().max().item()
        for q in (2.0, 10.0, 100.0, 1e4)
    ]
    assert errors == sorted(errors, reverse=True)  # monotone approach
    assert errors[-1] < 1e-3 and errors[0] > 0.05


def test_heavier_tail_for_smaller_q():
    far = torch.tensor([5.0], dtype=torch.float64)
    values = [pseudo_derivative(far, SurrogateParams("q_pseudospike", tail=q)).item() for q in (1.1, 1.56, 3.0, 30.0)]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (SurrogateParams("nope"), "unknown surrogate"),
        (SurrogateParams("gaussian", sharpness=0.0), "sharpness"),
        (SurrogateParams("gaussian", dampening=-1.0), "dampening"),
        (SurrogateParams("gaussian", sharpness=math.nan), "sharpness"),
        (SurrogateParams("q_pseudospike", tail=1.0), "tail"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        spike(torch.zeros(2), params)
