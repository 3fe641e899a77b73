"""Discrete-grid EventProp against independent references: finite differences of the grid model where it is
differentiable (readout weights), the dense BPTT engine (same forward pass, same exact readout gradient), and
finite differences of the continuous-time reference simulation (continuous_reference) as Δt -> 0."""

import math

import numpy as np
import pytest
import torch

from continuous_reference import Layer, simulate
from spikegrad.engines import EngineOptions, bptt, eventprop
from spikegrad.engines.eventprop import BufferOverflow, hidden_layer, lif_layer, readout, readout_spikes, spike_train
from spikegrad.kernels.event_lists import sample_of
from spikegrad.kernels.lif_scan import lif_scan_fwd_ref
from spikegrad.losses import VOLTAGE_LOSSES, FirstSpikeParams, cross_entropy, first_spike_loss
from spikegrad.model import LIFParams, WeightInit, decay_factors, dense_stack
from spikegrad.network import SNN

P = LIFParams(tau_mem=10.0, tau_syn=5.0, dt=0.5)


def raster(steps=40, batch=3, n=6, p=0.15, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n, generator=gen, dtype=torch.float64) < p).double()


@pytest.mark.parametrize("loss", sorted(VOLTAGE_LOSSES))
def test_readout_gradient_passes_gradcheck_on_the_grid(loss):
    # the readout voltage is smooth in its weights, so EventProp's readout gradient is exact there
    x = raster()
    w = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 1])
    assert torch.autograd.gradcheck(lambda w: cross_entropy(loss, readout(x, w, P), labels)[0], (w,))


@pytest.mark.parametrize("recurrent", [False, True])
def test_same_forward_and_readout_gradient_as_bptt(recurrent):
    spec = dense_stack(6, (8, 5), 3, recurrent=recurrent, neuron=P, hidden_init=WeightInit(3.0, 1.0),
                       recurrent_init=WeightInit(0, 1))  # fmt: skip
    x, labels = raster(), torch.tensor([0, 2, 1])
    outputs, grads = {}, {}
    for engine in ("bptt", "eventprop"):
        net = SNN(spec, engine=engine, seed=2)
        net = net.double()
        out = net(x)
        cross_entropy("sum_weigh_exp", out.voltage, labels)[0].backward()
        outputs[engine], grads[engine] = out, net.readout.weight.grad
    for z_b, z_e in zip(outputs["bptt"].spikes, outputs["eventprop"].spikes, strict=True):
        assert torch.equal(z_b, z_e.dense()) and 0 < z_b.mean() < 0.5
    # the same arithmetic but for the order of the synaptic sums (event order vs matrix products)
    torch.testing.assert_close(outputs["bptt"].voltage, outputs["eventprop"].voltage, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(grads["bptt"], grads["eventprop"], rtol=1e-12, atol=1e-15)


def saved_bytes(fn) -> int:
    """Bytes autograd keeps for the backward pass of fn() (the weights themselves excluded)."""
    sizes = []

    def pack(t):
        sizes.append(0 if t.is_leaf and t.requires_grad else t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(sizes)


def test_forward_stores_spike_events_not_traces():
    x = raster(steps=400, batch=4, n=20, p=0.05)
    w = (torch.randn(30, 20, dtype=torch.float64) * 0.5).requires_grad_()
    counts = hidden_layer(x, w, None, P)[1]
    assert 1 < counts.mean() < 10
    eventprop = saved_bytes(lambda: hidden_layer(x, w, None, P))
    dense = saved_bytes(lambda: bptt.hidden_layer(x, w, None, P))  # U [T, B, N] (+ x for the weight gradient)
    assert eventprop < dense / 4


def test_buffer_overflow_raises_or_grows():
    x = torch.zeros(30, 1, 1, dtype=torch.float64)
    x[::3] = 1.0
    w = torch.tensor([[5.0]], dtype=torch.float64, requires_grad=True)
    with pytest.raises(BufferOverflow, match="max_spikes=2"):
        hidden_layer(x, w, None, P, EngineOptions(max_spikes=2))
    grown, n_grown = hidden_layer(x, w, None, P)  # max_spikes=None: the buffer grows
    fixed, n_fixed = hidden_layer(x, w, None, P, EngineOptions(max_spikes=30))
    assert n_grown.item() == n_fixed.item() > 2 and torch.equal(grown.dense(), fixed.dense())
    g = torch.randn_like(grown.events.value)
    grad = [torch.autograd.grad((s.events.value * g).sum(), w)[0] for s in (grown, fixed)]
    assert torch.equal(*grad)


def test_samples_that_outgrow_the_first_buffer_run_again(monkeypatch):
    # with room for one spike per neuron, the samples that fire more are re-run alone: the same spikes and
    # gradients as with room for all, in sample order
    x = raster(steps=60, batch=5, n=6, p=0.3)
    x[:, 2] = 0.0  # one silent sample between busy ones
    w = (torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 1.0).requires_grad_()
    roomy, counts = hidden_layer(x, w, None, P, EngineOptions(max_spikes=60))
    assert counts.max() > 1 and counts[2].sum() == 0
    monkeypatch.setattr(eventprop, "GROW_SLOTS", 1)
    tight, tight_counts = hidden_layer(x, w, None, P)
    for a, b in zip(tight.events, roomy.events, strict=True):
        assert torch.equal(a, b)
    g = torch.randn_like(roomy.events.value)
    pairs = ((tight, tight_counts), (roomy, counts))
    grads = [torch.autograd.grad((s.events.value * g).sum() + n.sum(), w)[0] for s, n in pairs]
    assert torch.equal(*grads)


def test_a_dense_input_gets_the_gradient_of_its_events():
    # ∂L/∂x of a dense raster is ∂L/∂t of each input event where x is non-zero and zero elsewhere
    x = raster(steps=30, batch=2, n=5, p=0.3).requires_grad_()
    w = torch.randn(4, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 1.0
    probe = torch.randn(30, 2, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w_out = torch.randn(3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (readout(hidden_layer(x, w, None, P)[0], w_out, P) * probe).sum().backward()
    events = spike_train(x.detach()).events
    value = events.value.clone().requires_grad_()
    train = eventprop.SpikeTrain(events._replace(value=value), 30, 5)
    (readout(hidden_layer(train, w, None, P)[0], w_out, P) * probe).sum().backward()
    assert value.grad.abs().max() > 0 and torch.equal(
        x.grad[x.detach() == 0], torch.zeros(int((x == 0).sum()), dtype=x.dtype)
    )
    assert torch.equal(x.grad[events.step.long(), sample_of(events), events.unit.long()], value.grad)


def test_subtract_reset_is_rejected():
    with pytest.raises(ValueError, match="zero reset"):
        hidden_layer(raster(), torch.ones(2, 6, dtype=torch.float64), None, P._replace(reset="subtract"))


def _li_voltage(x, w, lif):
    alpha, beta, c = decay_factors(lif)
    return lif_scan_fwd_ref(x @ w.T, alpha, beta, c, math.inf)[1]


def test_count_gradient_is_the_voltage_at_the_spike_over_threshold():
    # W&P's spike-count rule: N = Σ_k V(t_k^-)/ϑ, so for a single-spike neuron dN/dw = dU_{n*}/dw / ϑ
    lif = P._replace(threshold=0.8)
    x = torch.zeros(30, 1, 3, dtype=torch.float64)
    x[2, 0, 0] = x[5, 0, 1] = x[6, 0, 2] = 1.0
    w = torch.tensor([[1.8, 1.6, 1.4]], dtype=torch.float64, requires_grad=True)
    spikes, counts, _ = lif_layer(x, w, None, lif)
    assert counts.item() == 1
    (grad,) = torch.autograd.grad(counts.sum(), w)
    step = int(spikes.events.step[0])
    (expected,) = torch.autograd.grad(_li_voltage(x, w, lif)[step, 0, 0] / lif.threshold, w)
    assert torch.allclose(grad, expected, rtol=1e-12)


def test_silent_neuron_gets_a_phantom_spike_at_the_end_of_the_trial():
    # ∂L/∂t of a silent neuron's first spike acts as λ_V += (∂L/∂t)/ϑ at t = T, i.e. as ∂L/∂U_{T-1} = -τ_m/ϑ ∂L/∂t
    x = torch.zeros(30, 1, 2, dtype=torch.float64)
    x[3, 0, 0] = x[10, 0, 1] = 1.0
    w = torch.tensor([[0.3, 0.4]], dtype=torch.float64, requires_grad=True)
    _, counts, first = lif_layer(x, w, None, P)
    assert counts.item() == 0 and math.isinf(first.item())
    (grad,) = torch.autograd.grad(first, w, torch.tensor([[0.7]], dtype=torch.float64))
    (expected,) = torch.autograd.grad(_li_voltage(x, w, P)[-1, 0, 0] * (-P.tau_mem / P.threshold * 0.7), w)
    assert torch.allclose(grad, expected, rtol=1e-12)
    assert (grad > 0).all() == (0.7 < 0)  # pushing the (missing) spike earlier raises the weights


# --- convergence to the continuous-time gradient --------------------------------------------------------------

T_MS = 20.0
SAMPLES = np.arange(1, 401) * 0.05  # readout samples on the coarsest grid: a Riemann sum of ∫ e^{-t/T} U dt
DTS = (0.05, 0.025, 0.0125, 0.00625)


def network(recurrent: bool, seed: int, spiking_out: bool):
    rng = np.random.default_rng(seed)
    inputs = [np.sort(rng.choice(30, size=3, replace=False) * 0.5) for _ in range(4)]
    w1 = rng.normal(1.2, 0.5, (5, 4))
    w_rec = rng.normal(0.0, 0.3, (5, 5)) if recurrent else None
    w2 = rng.normal(1.0, 0.3, (3, 5)) if spiking_out else rng.normal(0.0, 1.0, (3, 5))
    return inputs, w1, w_rec, w2


SHAPING = np.exp(-SAMPLES / T_MS)  # loss shaping: z = mean_s e^{-t_s/T} U(t_s)


def loss_of_voltage(u, label=1):
    z = (SHAPING[:, None] * u).sum(0) / len(SHAPING)
    return -(z[label] - np.log(np.exp(z).sum()))


TTFS = FirstSpikeParams(tau0=2.0, tau1=10.0, alpha=0.05)


def continuous_loss(inputs, w1, w_rec, w2, spiking_out):
    layers = [Layer(w1, w_rec), Layer(w2, None, spiking=spiking_out)]
    sim = simulate(inputs, layers, P, T_MS, SAMPLES)
    if not spiking_out:
        return loss_of_voltage(sim.voltage), sim
    first = torch.tensor([[s[0] if len(s) else math.inf for s in sim.spike_times[1]]], dtype=torch.float64)
    return first_spike_loss("first_spike_exp", first, torch.tensor([1]), T_MS, TTFS)[0].item(), sim


def finite_differences(params, loss, eps=1e-6):
    grads = []
    for k, p in enumerate(params):
        if p is None:
            grads.append(None)
            continue
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() if q is not None else None for q in params]
            minus = [q.copy() if q is not None else None for q in params]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (loss(*plus)[0] - loss(*minus)[0]) / (2 * eps)
        grads.append(g)
    return grads


def eventprop_grads(inputs, w1, w_rec, w2, spiking_out, dt):
    lif = P._replace(dt=dt)
    steps = round(T_MS / dt)
    x = torch.zeros(steps, 1, len(inputs), dtype=torch.float64)
    for j, times in enumerate(inputs):
        x[np.round(times / dt).astype(int), 0, j] = 1.0
    params = [torch.tensor(p, requires_grad=True) if p is not None else None for p in (w1, w_rec, w2)]
    z, counts = hidden_layer(x, params[0], params[1], lif)
    if spiking_out:
        first = readout_spikes(z, params[2], lif)
        loss = first_spike_loss("first_spike_exp", first, torch.tensor([1]), T_MS, TTFS)[0]
    else:
        u = readout(z, params[2], lif)[[round(s / dt) - 1 for s in SAMPLES], 0]
        zz = (torch.tensor(SHAPING)[:, None] * u).sum(0) / len(SHAPING)
        loss = -(zz[1] - torch.logsumexp(zz, 0))
    loss.backward()
    return [p.grad.numpy() if p is not None else None for p in params], int(counts.sum())


@pytest.mark.parametrize(
    ("recurrent", "spiking_out", "seed"), [(False, False, 0), (True, False, 1), (False, True, 4), (True, True, 0)]
)
def test_gradient_converges_to_the_continuous_time_gradient(recurrent, spiking_out, seed):
    """Hidden, recurrent and readout weights, voltage (LI) and first-spike (LIF) readouts. The grid's error is
    O(Δt) with a constant set by the smallest V̇ at a threshold crossing: a nearly grazing crossing (seen in about
    one random network in six) needs a much finer Δt, so these networks are ones without one."""
    inputs, w1, w_rec, w2 = network(recurrent, seed, spiking_out)

    def loss(w1, w_rec, w2):
        return continuous_loss(inputs, w1, w_rec, w2, spiking_out)

    _, sim = loss(w1, w_rec, w2)
    n_hidden_spikes = sum(len(s) for s in sim.spike_times[0])
    assert n_hidden_spikes >= 10
    if spiking_out:
        assert all(len(s) for s in sim.spike_times[1])  # every output fires, so the loss sees real spike times
    reference = finite_differences([w1, w_rec, w2], loss)
    errors = []
    for dt in DTS:
        grads, n_spikes = eventprop_grads(inputs, w1, w_rec, w2, spiking_out, dt)
        assert n_spikes == n_hidden_spikes
        errors.append(
            max(np.abs(g - r).max() / np.abs(r).max() for g, r in zip(grads, reference, strict=True) if r is not None)
        )
    assert errors[-1] < 0.01, errors
    assert errors[-1] < errors[0] / 4, errors  # first order in Δt: 8x finer, error shrinks (ideally 8x)


def test_bptt_and_eventprop_readout_spike_times_agree():
    x = raster(steps=60, batch=2, n=6, p=0.2)
    w = torch.full((3, 6), 0.6, dtype=torch.float64)
    t_b = bptt.readout_spikes(x, w, P)
    t_e = readout_spikes(x, w, P)
    assert torch.equal(torch.isfinite(t_b), torch.isfinite(t_e)) and torch.isfinite(t_b).any()
    torch.testing.assert_close(t_b, t_e, rtol=1e-13, atol=0)


def test_time_constant_gradients_converge_to_the_continuous_time_gradient():
    # ∂L/∂τ_m = ∫ λ_V (I − V)/τ_m dt, ∂L/∂τ_s = −∫ λ_I I/τ_s dt per neuron; their sum over a layer whose neurons
    # share τ is d/dτ of the continuous model, by central finite differences on continuous_reference
    rng = np.random.default_rng(4)
    inputs = [np.sort(rng.choice(30, size=3, replace=False) * 0.5) for _ in range(4)]
    w = rng.normal(1.5, 0.5, (3, 4))

    def loss(tau_mem, tau_syn):
        sim = simulate(inputs, [Layer(w, None)], P._replace(tau_mem=tau_mem, tau_syn=tau_syn), T_MS, np.array([T_MS]))
        first = torch.tensor([[s[0] if len(s) else math.inf for s in sim.spike_times[0]]], dtype=torch.float64)
        return first_spike_loss("first_spike_exp", first, torch.tensor([1]), T_MS, TTFS)[0].item()

    eps = 1e-6
    fd = [(loss(P.tau_mem + eps, P.tau_syn) - loss(P.tau_mem - eps, P.tau_syn)) / (2 * eps),
          (loss(P.tau_mem, P.tau_syn + eps) - loss(P.tau_mem, P.tau_syn - eps)) / (2 * eps)]  # fmt: skip
    dt = 0.00625
    x = torch.zeros(round(T_MS / dt), 1, 4, dtype=torch.float64)
    for j, times in enumerate(inputs):
        x[np.round(times / dt).astype(int), 0, j] = 1.0
    tau = [torch.full((3,), t, dtype=torch.float64, requires_grad=True) for t in (P.tau_mem, P.tau_syn)]
    z, counts = hidden_layer(x, torch.tensor(w), None, P._replace(dt=dt), tau=tuple(tau))
    assert counts.min() >= 5  # every neuron fires repeatedly
    first = lif_layer(x, torch.tensor(w), None, P._replace(dt=dt), tau=tuple(tau))[2]
    first_spike_loss("first_spike_exp", first, torch.tensor([1]), T_MS, TTFS)[0].backward()
    for got, expected in zip((t.grad.sum().item() for t in tau), fd, strict=True):
        assert got == pytest.approx(expected, rel=0.03)


def test_trainable_time_constants_need_eventprop_and_are_clamped():
    spec = dense_stack(6, (4,), 3, neuron=P, hidden_init=WeightInit(3.0, 1.0))
    with pytest.raises(ValueError, match="engine='eventprop'"):
        SNN(spec, engine="bptt", train_tau=True)
    net = SNN(spec, engine="eventprop", train_tau=True).double()
    assert net.hidden[0].tau_mem.tolist() == [P.tau_mem] * 4
    cross_entropy("sum", net(raster()).voltage, torch.tensor([0, 1, 2]))[0].backward()
    assert torch.isfinite(net.hidden[0].tau_mem.grad).all() and net.hidden[0].tau_syn.grad.abs().sum() > 0
    with torch.no_grad():
        net.hidden[0].tau_mem.fill_(1.0)
        net.hidden[0].tau_syn.fill_(0.1)
    net.clamp_tau()
    assert net.hidden[0].tau_mem.min() == 3.0 and net.hidden[0].tau_syn.min() == 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("recurrent", [False, True])
def test_cuda_network_matches_the_cpu(recurrent):
    # the Triton trial kernels through the whole engine: spikes, readout and every gradient as on the CPU (Numba)
    spec = dense_stack(6, (8, 5), 3, recurrent=recurrent, neuron=P, hidden_init=WeightInit(3.0, 1.0),
                       recurrent_init=WeightInit(0, 1))  # fmt: skip
    x, labels = raster(), torch.tensor([0, 2, 1])
    results = []
    for device in ("cpu", "cuda"):
        net = SNN(spec, engine="eventprop", seed=2)
        net = net.double().to(device)
        out = net(x.to(device))
        cross_entropy("sum_weigh_exp", out.voltage, labels.to(device))[0].backward()
        results.append([out.voltage.cpu(), *(p.grad.cpu() for p in net.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
