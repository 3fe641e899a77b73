"""The recurrent LIF/ALIF cells of the surrogate-gradient study (spikegrad.sgnet, prepared by
spikegrad.studies.surrogate.prepare): the update by hand for each
reset, the adaptive threshold, surrogate gradients by hand (the reset carries none), the unused diagonal, and
the stability hook."""

import math

import pytest
import torch

from spikegrad.model import Layer, dense_stack
from spikegrad.network import build
from spikegrad.sgnet import CellParams, SGNet, check_cell, recurrent_layer
from spikegrad.studies.surrogate.prepare import predictions, stabilize_network
from spikegrad.studies.surrogate.stability import SPIKE_INPUT_MOMENTS, dampening, recurrent_mean, recurrent_variance
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

SG = SurrogateParams("fast_sigmoid", sharpness=1.0, dampening=0.7)
HALF = CellParams(tau_mem=1 / math.log(2), threshold=1.0, dt=1.0)  # α = 0.5


def cells(n_in, hidden, n_out, cell=CellParams(), neuron="lif"):
    """The spec of recurrent ``neuron`` layers and a linear readout."""
    return dense_stack(n_in, hidden, n_out, recurrent=True, readout="linear", neuron=cell, hidden_neuron=neuron)


def layer(currents, p: CellParams = HALF, w_rec=None, adaptive=False):
    """(z, V) [T, N] of a layer with no bias driven by input currents h [T, N] (one sample)."""
    h = torch.as_tensor(currents, dtype=torch.float64)
    h = h.view(h.shape[0], 1, -1)
    n = h.shape[-1]
    w_rec = torch.zeros(n, n, dtype=torch.float64) if w_rec is None else w_rec
    z, v = recurrent_layer(h, w_rec, torch.zeros(n, dtype=torch.float64), p, SG, adaptive)
    return z[:, 0], v[:, 0]


@pytest.mark.parametrize(
    ("reset", "voltages"),
    [
        ("subtract", [1.5, 0.5 * 1.5 + 0.7 - 1.0, 0.5 * 0.45 + 0.4]),  # V − ϑ z_{t−1}
        ("mult_memory", [1.5, 0.7, 0.5 * 0.7 + 0.4]),  # the memory is zeroed after a spike
        ("mult_all", [1.5, 0.0, 0.4]),  # memory and input are zeroed after a spike
    ],
)
def test_update_by_hand(reset, voltages):
    z, v = layer([[1.5], [0.7], [0.4]], HALF._replace(reset=reset))
    assert v.flatten().tolist() == pytest.approx(voltages, abs=1e-12)
    assert z.flatten().tolist() == [1.0, 0.0, 0.0]


def test_adaptive_threshold_rises_after_a_spike():
    # mult_memory, so V_2 = h_2 = 1.05 crosses ϑ = 1 but not A_2 = ϑ + β_a (1 − ρ) = 1 + 1.8·0.5
    p = HALF._replace(reset="mult_memory", tau_adapt=1 / math.log(2))  # ρ = 0.5
    assert layer([[1.5], [1.05]], p)[0].flatten().tolist() == [1.0, 1.0]
    assert layer([[1.5], [1.05]], p, adaptive=True)[0].flatten().tolist() == [1.0, 0.0]
    assert layer([[1.5], [0.0], [1.05 + 0.5 * 0.0]], p, adaptive=True)[0].flatten().tolist() == [1, 0, 0]


@pytest.mark.parametrize(("reset", "through_memory"), [("subtract", 0.5), ("mult_memory", 0.0)])
def test_surrogate_gradient_by_hand_with_the_reset_detached(reset, through_memory):
    """L = z_1 + z_2 with z_1 = 1: ∂L/∂h_1 = SG(V_1 − ϑ) + ∂V_2/∂V_1·SG(V_2 − ϑ), where ∂V_2/∂V_1 = α for
    subtract (the −ϑ z_1 term carries no gradient) and α(1 − z_1) = 0 for mult_memory."""
    h = torch.tensor([[[1.2]], [[0.3]]], dtype=torch.float64, requires_grad=True)
    p = HALF._replace(reset=reset)
    z, v = recurrent_layer(h, torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), p, SG)
    z.sum().backward()
    sg1, sg2 = (pseudo_derivative(v[t, 0, 0].detach() - 1.0, SG).item() for t in (0, 1))
    assert h.grad[0, 0, 0].item() == pytest.approx(sg1 + through_memory * sg2, rel=1e-12)
    assert h.grad[1, 0, 0].item() == pytest.approx(sg2, rel=1e-12)


def test_recurrent_gradient_by_hand_and_the_unused_diagonal():
    """Neuron 0 spikes at t = 1 and drives neuron 1 at t = 2 through W_rec[1, 0] = w: ∂z_2[1]/∂h_1[0] =
    SG(V_2[1] − ϑ)·w·SG(V_1[0] − ϑ). The diagonal entries change nothing and get no gradient."""
    w = 0.4
    w_rec = torch.tensor([[5.0, 0.0], [w, -3.0]], dtype=torch.float64, requires_grad=True)
    h = torch.tensor([[[1.2, 0.1]], [[0.0, 0.2]]], dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(2, dtype=torch.float64)
    z, v = recurrent_layer(h, w_rec, zero, HALF, SG)
    assert v[1, 0, 1].item() == pytest.approx(0.5 * 0.1 + 0.2 + w)  # no self-input from the diagonal
    z[1, 0, 1].backward()
    sg_pre, sg_post = pseudo_derivative(v[0, 0, 0].detach() - 1, SG), pseudo_derivative(v[1, 0, 1].detach() - 1, SG)
    assert h.grad[0, 0, 0].item() == pytest.approx((sg_post * w * sg_pre).item(), rel=1e-12)
    assert w_rec.grad[0, 0].item() == 0.0 and w_rec.grad[1, 1].item() == 0.0
    assert w_rec.grad[1, 0].item() == pytest.approx((sg_post * z[0, 0, 0]).item(), rel=1e-12)


def test_network_output_shapes_and_bad_input():
    net = SGNet(cells(6, (5, 4), 3), surrogate=SG)
    out = net(torch.rand(7, 2, 6).round())
    assert out.voltage.shape == (7, 2, 3) and [z.shape for z in out.spikes] == [(7, 2, 5), (7, 2, 4)]
    assert all(torch.equal(n, z.sum(0)) for n, z in zip(out.counts, out.spikes, strict=True))
    assert all(torch.all(layer.recurrent.diagonal() == 0) for layer in net.hidden)
    with pytest.raises(ValueError, match=r"expected input spikes \[T, B, 6\]"):
        net(torch.zeros(7, 2, 5))
    with pytest.raises(ValueError, match="reset must be one of"):
        check_cell(CellParams(reset="zero"))
    with pytest.raises(ValueError, match="tau_mem"):
        SGNet(cells(6, (5,), 3, CellParams(tau_mem=-1.0)))
    with pytest.raises(ValueError, match="each recurrent"):
        SGNet(dense_stack(6, (5,), 3, readout="linear", neuron=CellParams()))
    with pytest.raises(ValueError, match="readout neurons \\('linear',\\)"):
        SGNet(cells(6, (5,), 3)._replace(layers=(Layer(5, recurrent=True), Layer(3, "li"))))
    with pytest.raises(ValueError, match="engine 'bptt'"):
        build(cells(6, (5,), 3), "sparse")


def test_stabilize_network_layer_by_layer():
    spec = cells(30, (200, 150), 4, CellParams(dt=4.0))
    net = SGNet(spec, surrogate=SG)
    alpha, theta = spec.neuron.alpha, spec.neuron.threshold
    w_in_2 = net.hidden[1].weight.detach().double()
    chosen = stabilize_network(net, ["I", "II", "III"], input_mean=0.05, input_var=0.04, seed=3)
    for k, n in enumerate((200, 150)):
        w_rec = net.hidden[k].recurrent.detach()
        off = w_rec[~torch.eye(n, dtype=torch.bool)]
        assert torch.all(w_rec.diagonal() == 0)
        assert off.mean().item() == pytest.approx(
            recurrent_mean(n, alpha, theta, "subtract"), abs=4 * off.std().item() / n
        )
        assert net.surrogate[k].dampening == pytest.approx(dampening(w_rec, alpha, theta, "subtract").mean().item())
        assert net.surrogate[k].sharpness == SG.sharpness and chosen[k].sharpness_solved is None
    # the second layer's variance comes from Bernoulli(½) inputs, not from the data's moments
    mean = recurrent_mean(150, alpha, theta, "subtract")
    var = recurrent_variance(150, 200, w_in_2.var(correction=0).item(), *SPIKE_INPUT_MOMENTS, mean)
    assert chosen[1].rec_std == pytest.approx(math.sqrt(var))
    predicted = predictions(net)
    assert predicted["dampening"] == pytest.approx(net.surrogate[0].dampening)
    assert predicted["tail"] is None  # only for q_pseudospike


def test_alif_reset_term_carries_no_gradient_but_the_threshold_does():
    """ALIF, subtract: V_2 = αV_1 + h_2 − A_2 z_1 with the whole reset term detached, so ∂V_2/∂h_1 = α; the spike
    z_2 = Θ(V_2 − A_2) still sees A_2 = ϑ + β_a(1 − ρ)z_1 through the adaptation."""
    p = HALF._replace(tau_adapt=1 / math.log(2))  # ρ = 0.5
    h = torch.tensor([[[1.2]], [[0.9]]], dtype=torch.float64, requires_grad=True)
    zero_rec, zero_bias = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    z, v = recurrent_layer(h, zero_rec, zero_bias, p, SG, adaptive=True)
    (grad_v,) = torch.autograd.grad(v[1, 0, 0], h, retain_graph=True)
    assert grad_v[0, 0, 0].item() == pytest.approx(0.5, rel=1e-12)
    (grad_z,) = torch.autograd.grad(z[1, 0, 0], h)
    threshold = 1.0 + 1.8 * 0.5 * z[0, 0, 0].item()
    sg1 = pseudo_derivative(v[0, 0, 0].detach() - 1.0, SG)
    sg2 = pseudo_derivative(v[1, 0, 0].detach() - threshold, SG)
    assert grad_z[0, 0, 0].item() == pytest.approx((sg2 * (0.5 - 1.8 * 0.5 * sg1)).item(), rel=1e-12)
