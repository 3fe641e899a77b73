"""The event-driven input projection against the dense product: values and gradients in float64, the dense
fallback above the density limit, and bad shapes."""

import pytest
import torch

from spikegrad.kernels.spike_linear import SpikeLinear, spike_linear


def _inputs(density=0.1, requires_grad=False):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(7, 3, 20, generator=gen) < density).double().requires_grad_(requires_grad)
    w = torch.randn(5, 20, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, w


@pytest.mark.parametrize("requires_grad", [False, True])
def test_values_and_gradients_equal_the_dense_product(requires_grad, monkeypatch):
    calls = []
    apply = SpikeLinear.apply
    monkeypatch.setattr(SpikeLinear, "apply", lambda *a: calls.append(1) or apply(*a))
    x, w = _inputs(requires_grad=requires_grad)
    h = spike_linear(x, w)
    assert calls, "the sparse path was not taken"
    h_dense = x @ w.T
    torch.testing.assert_close(h, h_dense, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(h)
    params = (x, w) if requires_grad else (w,)
    for got, expected in zip(torch.autograd.grad(h, params, g), torch.autograd.grad(h_dense, params, g), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_dense_inputs_take_the_dense_product(monkeypatch):
    monkeypatch.setattr(SpikeLinear, "apply", lambda *a: pytest.fail("sparse path taken for dense input"))
    x, w = _inputs(density=0.9)
    torch.testing.assert_close(spike_linear(x, w), x @ w.T)


def test_mismatched_shapes_are_rejected():
    x, w = _inputs()
    with pytest.raises(ValueError, match="20 inputs per row but weight has 19"):
        spike_linear(x, w[:, :19])
