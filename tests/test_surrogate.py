import pytest
import torch

from spikegrad.surrogate import fast_sigmoid_derivative, spike


def test_forward_is_the_heaviside_step():
    x = torch.tensor([-1.0, -1e-6, 0.0, 1e-6, 2.0])
    assert spike(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("slope", [1.0, 10.0, 100.0])
def test_backward_is_the_derivative_of_the_fast_sigmoid(slope):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    g = torch.randn(41, dtype=torch.float64)
    (grad,) = torch.autograd.grad(spike(x, slope=slope), x, g)
    smooth = x / (1 + slope * x.abs())  # fast sigmoid; its derivative is the surrogate
    (expected,) = torch.autograd.grad(smooth, x, g)
    assert torch.allclose(grad, expected, atol=1e-14)
    assert fast_sigmoid_derivative(torch.tensor(0.0), slope).item() == 1.0  # peak value 1 at threshold


def test_unknown_surrogate_is_rejected():
    with pytest.raises(ValueError, match="unknown surrogate"):
        spike(torch.zeros(2), surrogate="nope")
