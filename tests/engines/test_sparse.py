"""The sparse engine against an independent path: autograd through model.lif_step with the surrogate truncated
to the active set |U − ϑ| < B_th (dense, float64), for feed-forward and recurrent two-layer networks; B_th = ∞
against the dense BPTT engine."""

import math

import pytest
import torch

from spikegrad.engines import EngineOptions, bptt, sparse
from spikegrad.engines.stack import HiddenParams
from spikegrad.kernels import sparse_grad
from spikegrad.model import LIFParams, WeightInit, dense_stack, lif_step, rest_state
from spikegrad.network import SNN
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

P = LIFParams(tau_mem=10.0, tau_syn=2.0, dt=1.0, reset="subtract")
SG = SurrogateParams("fast_sigmoid", 10.0)


class TruncatedSpike(torch.autograd.Function):
    """z = Θ(v); backward grad · σ'(v) · 1[|v| < band]."""

    @staticmethod
    def forward(ctx, v, band):
        ctx.save_for_backward(v)
        ctx.band = band
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * pseudo_derivative(v, SG) * (v.abs() < ctx.band), None


def truncated_stack(x, layers, band):
    """Hidden spikes of the stack, step by step with model.lif_step; autograd differentiates it."""
    spikes = []
    for p in layers:
        h = x @ p.weight.T
        state = rest_state(h.shape[1], h.shape[2], h)
        z = torch.zeros_like(state.v)
        out = []
        for h_t in h:
            rec = 0.0 if p.recurrent is None else z @ p.recurrent.T
            z, _, state = lif_step(h_t + rec, state, P, lambda v: TruncatedSpike.apply(v, band), True)
            out.append(z)
        x = torch.stack(out)
        spikes.append(x)
    return spikes


def network(recurrent, seed=0, T=40, B=3, sizes=(8, 12, 10, 4)):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, sizes[0], generator=gen) < 0.3).double()

    def param(*shape, scale, shift=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift).requires_grad_()

    layers = [
        HiddenParams(param(n, m, scale=2.0, shift=shift), param(n, n, scale=1.0) if recurrent else None)
        for m, n, shift in zip(sizes[:-2], sizes[1:-1], (1.2, 0.3), strict=True)
    ]
    return x, layers, param(sizes[-1], sizes[-2], scale=0.5)


def loss_of(spikes, counts, w_out, probe, count_penalty=True):
    """A loss that reaches every layer: a random functional of the readout plus (``count_penalty``) a count penalty;
    without it, the hidden layers but the last get their gradient from the next layer alone."""
    u = bptt.readout(spikes[-1], w_out, P)
    return (u * probe).sum() + (0.1 * sum((n**2).sum() for n in counts) if count_penalty else 0.0)


def params_of(layers, w_out):
    return [t for p in layers for t in (p.weight, p.recurrent) if t is not None] + [w_out]


@pytest.mark.parametrize("count_penalty", [True, False])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("band", [0.05, 0.3, 1.0])
def test_sparse_equals_dense_bptt_with_truncated_surrogate(recurrent, band, count_penalty):
    x, layers, w_out = network(recurrent)
    out = sparse.hidden_stack(x, layers, P, EngineOptions(SG, active_band=band))
    reference = truncated_stack(x, layers, band)
    for z, z_ref in zip(out.spikes, reference, strict=True):
        assert torch.equal(z, z_ref)
        assert 0.02 < z.mean() < 0.6  # the layers spike
    assert all(0.0 < f < 1.0 for f in out.active)  # a proper subset is active
    probe = torch.randn(*out.spikes[-1].shape[:2], w_out.shape[0], generator=torch.Generator().manual_seed(3))
    params = params_of(layers, w_out)
    got = torch.autograd.grad(loss_of(out.spikes, out.counts, w_out, probe.double(), count_penalty), params)
    ref_loss = loss_of(reference, [z.sum(0) for z in reference], w_out, probe.double(), count_penalty)
    expected = torch.autograd.grad(ref_loss, params)
    for g, e in zip(got, expected, strict=True):
        assert e.abs().max() > 0
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
    untruncated = torch.autograd.grad(
        loss_of(*bptt.hidden_stack(x, layers, P, EngineOptions(SG))[:2], w_out, probe.double()), params
    )
    assert (got[0] - untruncated[0]).abs().max() > 1e-6  # truncation changes the gradient: the test can fail


@pytest.mark.parametrize("recurrent", [False, True])
def test_input_gradient_is_sparse_on_the_upstream_active_set(recurrent):
    """∂L/∂z of the first layer, fed only to the second: a coalesced sparse COO tensor on the first layer's active
    set, whose entries equal the truncated-surrogate autograd gradient there."""
    x, layers, w_out = network(recurrent)
    out = sparse.hidden_stack(x, layers, P, EngineOptions(SG, active_band=0.3))
    reference = truncated_stack(x, layers, 0.3)
    probe = torch.randn(40, 3, w_out.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = torch.autograd.grad(loss_of(out.spikes, out.counts, w_out, probe, False), out.spikes[0])[0]
    expected = torch.autograd.grad(loss_of(reference, [], w_out, probe, False), reference[0])[0]
    assert got.layout == torch.sparse_coo and got.is_coalesced()
    assert got._nnz() == round(out.active[0] * got.numel())
    t, b, i = got.indices()
    torch.testing.assert_close(got.values(), expected[t, b, i], rtol=1e-10, atol=1e-12)
    assert expected[t, b, i].abs().max() > 0


@pytest.mark.parametrize("recurrent", [False, True])
def test_infinite_band_is_dense_bptt(recurrent):
    spec = dense_stack(8, (12, 10), 4, recurrent=recurrent, neuron=P, hidden_init=WeightInit(2.5, 2.0),
                       recurrent_init=WeightInit(0.0, 1.0))  # fmt: skip
    x = (torch.rand(30, 4, 8, generator=torch.Generator().manual_seed(5)) < 0.3).double()
    grads = {}
    for engine in ("bptt", "sparse"):
        model = SNN(spec, engine, 2, surrogate=SG)
        out = model.double()(x)
        (out.voltage.square().sum() + sum(n.sum() for n in out.counts)).backward()
        grads[engine] = {k: p.grad for k, p in model.named_parameters()}
        if engine == "sparse":
            assert out.active == [1.0, 1.0]
    for name, g in grads["bptt"].items():
        assert g.abs().max() > 0, name
        torch.testing.assert_close(grads["sparse"][name], g, rtol=1e-11, atol=1e-13)


def test_first_layer_input_gradient_is_dense_and_exact():
    x, layers, w_out = network(False)
    x.requires_grad_()
    out = sparse.hidden_stack(x, layers[:1], P, EngineOptions(SG))
    ref = bptt.hidden_stack(x, layers[:1], P, EngineOptions(SG))
    g = torch.randn_like(out.spikes[0])
    torch.testing.assert_close(
        torch.autograd.grad(out.spikes[0], x, g)[0], torch.autograd.grad(ref.spikes[0], x, g)[0], rtol=1e-11, atol=0
    )


def test_float32_matches_float64():
    x, layers, w_out = network(False, T=60, B=4)
    grads = []
    for dtype in (torch.float64, torch.float32):
        cast = [HiddenParams(p.weight.detach().to(dtype).requires_grad_(), None) for p in layers]
        out = sparse.hidden_stack(x.to(dtype), cast, P, EngineOptions(SG, active_band=0.3))
        grads.append(torch.autograd.grad(sum(z.sum() for z in out.counts), [p.weight for p in cast]))
    for g64, g32 in zip(*grads, strict=True):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("lif", "options", "message"),
    [
        (P._replace(reset="zero"), EngineOptions(SG), "reset='subtract'"),
        (P, EngineOptions(SG, detach_reset=False), "detach_reset=True"),
        (P, EngineOptions(SG, active_band=0.0), "active_band"),
        (P, EngineOptions(SG, active_band=math.nan), "active_band"),
    ],
)
def test_unsupported_settings_raise_clear_errors(lif, options, message):
    x, layers, _ = network(False)
    with pytest.raises(ValueError, match=message):
        sparse.hidden_stack(x, layers, lif, options)
    with pytest.raises(ValueError, match=message):
        SNN(dense_stack(8, (12,), 4, neuron=lif), engine="sparse", detach_reset=options.detach_reset,
            active_band=options.active_band)  # fmt: skip


@pytest.mark.parametrize("count_penalty", [True, False])
@pytest.mark.parametrize("triton_products", [False, True])
@pytest.mark.parametrize("recurrent", [False, True])
def test_reference_backward_gives_the_kernel_gradients(recurrent, triton_products, count_penalty, monkeypatch):
    """The engine with the PyTorch references (active set by torch.nonzero; dense δ scan and sparse products, with
    ``triton_products`` the Triton launchers interpreted on the CPU) in place of the Numba kernels."""
    x, layers, w_out = network(recurrent, T=20)
    probe = torch.randn(20, 3, w_out.shape[0], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    params = params_of(layers, w_out)

    def grads():
        out = sparse.hidden_stack(x, layers, P, EngineOptions(SG, active_band=0.3))
        return torch.autograd.grad(loss_of(out.spikes, out.counts, w_out, probe, count_penalty), params)

    expected = grads()
    monkeypatch.setattr(sparse, "layer_backward", sparse_grad.layer_backward_ref)
    monkeypatch.setattr(sparse, "select", sparse_grad.select_ref)
    if triton_products:
        monkeypatch.setattr(sparse_grad, "weight_grad_sparse", sparse_grad.weight_grad)
        monkeypatch.setattr(sparse_grad, "input_grad_sparse", sparse_grad.input_grad)
        monkeypatch.setattr(sparse_grad, "DENSE_ABOVE", 1.0)  # the sparse weight product even for dense-ish inputs
    for g, e in zip(grads(), expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
