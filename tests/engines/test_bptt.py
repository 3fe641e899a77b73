"""The scan-based BPTT engine against an independent path (autograd unrolled through model.lif_step) and
against finite differences where the surrogate gradient is exact (non-spiking layers)."""

import pytest
import torch

from spikegrad.engines import EngineOptions
from spikegrad.engines.bptt import LIFScan, hidden_layer, readout, readout_spikes
from spikegrad.kernels.lif_scan import scan_constants
from spikegrad.losses import cross_entropy
from spikegrad.model import LIFParams, decay_factors, lif_step, rest_state
from spikegrad.surrogate import SurrogateParams, spike

P = LIFParams(tau_mem=10.0, tau_syn=5.0, dt=1.0)


def inputs(T=25, B=3, n_in=6, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, n_in, generator=gen) < 0.3).double()
    w = (torch.randn(n, n_in, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    return x, w


def unrolled(x, w, w_rec, lif, sg, detach_reset):
    """The same layer written step by step with model.lif_step; autograd differentiates it."""
    h = x @ w.T
    state = rest_state(h.shape[1], h.shape[2], h)
    z = torch.zeros_like(state.v)
    spikes = []
    for h_t in h:
        z, _, state = lif_step(h_t + z @ w_rec.T, state, lif, lambda v: spike(v, sg), detach_reset)
        spikes.append(z)
    return torch.stack(spikes)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("recurrent", [False, True])
def test_engine_equals_autograd_unrolled_loop(reset, detach_reset, recurrent):
    lif = P._replace(reset=reset)
    x, w = inputs()
    gen = torch.Generator().manual_seed(1)
    w_rec = (torch.randn(5, 5, generator=gen, dtype=torch.float64) * 0.3 * recurrent).requires_grad_()
    sg = SurrogateParams("fast_sigmoid", 5.0)
    z_engine, counts = hidden_layer(x, w, w_rec if recurrent else None, lif, EngineOptions(sg, detach_reset))
    assert torch.equal(counts, z_engine.sum(0))
    z_loop = unrolled(x, w, w_rec, lif, sg, detach_reset)
    assert torch.equal(z_engine, z_loop)
    assert 0 < z_engine.mean() < 0.5  # the layer spikes, so the reset path is exercised
    g = torch.randn_like(z_engine)
    params = (w, w_rec) if recurrent else (w,)
    for got, expected in zip(
        torch.autograd.grad(z_engine, params, g), torch.autograd.grad(z_loop, params, g), strict=True
    ):
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_non_spiking_scan_passes_gradcheck():
    h = torch.randn(12, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: LIFScan.apply(h, scan_constants(P, spiking=False), None)[1], (h,))


def test_readout_weight_gradient_matches_finite_differences():
    # hidden spikes do not depend on the readout weights, so this gradient is exact, not a surrogate
    x, w = inputs()
    z = hidden_layer(x, w.detach(), None, P)[0].detach()
    w_out = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 1])
    for loss in ("max", "sum"):
        assert torch.autograd.gradcheck(lambda w, loss=loss: cross_entropy(loss, readout(z, w, P), labels)[0], (w_out,))


def test_recurrent_layer_feeds_spikes_back_one_step_later():
    x = torch.zeros(4, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    w = torch.tensor([[100.0]], dtype=torch.float64)  # input spike at step 0 -> neuron 0 fires at step 0
    w_rec = torch.tensor([[0.0, 0.0], [100.0, 0.0]], dtype=torch.float64)  # neuron 0 excites neuron 1
    w2 = torch.tensor([[100.0], [0.0]], dtype=torch.float64)
    z = hidden_layer(x, w2, w_rec, P)[0]
    assert z[:, 0, 0].tolist()[:1] == [1.0]
    assert z[:, 0, 1].tolist()[:2] == [0.0, 1.0]
    assert hidden_layer(x, w, None, P)[0][0, 0, 0] == 1.0


def test_first_spike_times_of_a_lif_readout():
    x = torch.zeros(6, 2, 1, dtype=torch.float64)
    x[2, 0] = 1.0  # sample 0: input at step 2 -> readout 0 crosses ϑ early in step 2 (U = 100c); sample 1: silent
    w = torch.tensor([[100.0], [0.0]], dtype=torch.float64, requires_grad=True)
    t = readout_spikes(x, w, P)
    u = 100.0 * decay_factors(P).c
    assert t[0, 0].item() == pytest.approx(2.0 + P.threshold / u) and torch.isinf(t[0, 1]) and torch.isinf(t[1]).all()
    t[0, 0].backward()
    assert torch.isfinite(w.grad).all()  # surrogate gradient of the spike time
