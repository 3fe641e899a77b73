import math

import numpy as np
import pytest
import torch

from continuous_reference import Layer, simulate
from spikegrad.model import LIFParams, lif_step, rest_state


def kappa(s, tau_mem, tau_syn):
    """V(s) after a unit current jump at s = 0 from rest (the module docstring's κ), 0 for s < 0."""
    s = np.asarray(s, dtype=np.float64)
    if tau_mem == tau_syn:
        k = s / tau_mem * np.exp(-s / tau_mem)
    else:
        k = tau_syn / (tau_mem - tau_syn) * (np.exp(-s / tau_mem) - np.exp(-s / tau_syn))
    return np.where(s >= 0, k, 0.0)


def dkappa(s, tau_mem, tau_syn):
    """dκ/ds = (e^{−s/τ_s} − κ(s))/τ_m for s > 0."""
    return (np.exp(-s / tau_syn) - kappa(s, tau_mem, tau_syn)) / tau_mem


def one_neuron(times, weights, lif, t_end=30.0, sample_times=()):
    """One LIF neuron with one input channel per (time, weight) pair."""
    layer = Layer(np.array([weights], dtype=np.float64), None)
    return simulate([np.array([t]) for t in times], [layer], lif, t_end, np.array(sample_times, dtype=np.float64))


@pytest.mark.parametrize("tau_mem, tau_syn", [(20.0, 5.0), (10.0, 10.0)])
def test_subthreshold_voltage_matches_closed_form(tau_mem, tau_syn):
    lif = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn)
    t = np.linspace(0.0, 50.0, 201)
    sim = one_neuron([3.0, 12.0], [0.9, -0.4], lif, t_end=50.0, sample_times=t)
    expected = 0.9 * kappa(t - 3.0, tau_mem, tau_syn) - 0.4 * kappa(t - 12.0, tau_mem, tau_syn)
    assert len(sim.spike_times[0][0]) == 0
    assert sim.voltage.shape == (201, 1)
    np.testing.assert_allclose(sim.voltage[:, 0], expected, rtol=0, atol=1e-14)


def test_nearly_equal_time_constants_approach_the_equal_limit():
    t = np.linspace(0.0, 40.0, 81)
    equal = one_neuron([1.0], [0.5], LIFParams(tau_mem=10.0, tau_syn=10.0), 40.0, t).voltage
    near = one_neuron([1.0], [0.5], LIFParams(tau_mem=10.0, tau_syn=10.0 * (1 + 1e-10)), 40.0, t).voltage
    np.testing.assert_allclose(near, equal, rtol=0, atol=1e-10)


@pytest.mark.parametrize("tau_mem, tau_syn, w", [(10.0, 5.0, 6.0), (10.0, 10.0, 3.0)])
def test_spike_time_is_the_first_threshold_crossing_and_resets_to_zero(tau_mem, tau_syn, w):
    lif = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, threshold=1.0)
    t_in = 2.0
    (spikes,) = one_neuron([t_in], [w], lif).spike_times[0]
    assert len(spikes) == 1
    t_star = spikes[0]
    assert w * kappa(t_star - t_in, tau_mem, tau_syn) == pytest.approx(1.0, abs=1e-12)
    before = np.linspace(0.0, t_star, 2001)[:-1]
    assert np.all(w * kappa(before - t_in, tau_mem, tau_syn) < 1.0)  # no earlier crossing

    after = t_star + np.linspace(0.0, 30.0 - t_star, 50)
    sim = one_neuron([t_in], [w], lif, sample_times=after)
    assert sim.voltage[0, 0] == pytest.approx(1.0, abs=1e-12)  # sampled at t*: the pre-reset value
    i_star = w * math.exp(-(t_star - t_in) / tau_syn)  # I is continuous across the spike, V restarts from 0
    np.testing.assert_allclose(sim.voltage[1:, 0], i_star * kappa(after[1:] - t_star, tau_mem, tau_syn), atol=1e-13)


def test_spike_time_gradient_matches_implicit_function_theorem():
    lif = LIFParams(tau_mem=10.0, tau_syn=5.0)
    times, weights = np.array([1.0, 3.0]), np.array([2.5, 3.0])

    def t_star(times, weights):
        (spikes,) = one_neuron(times, weights, lif).spike_times[0]
        return spikes[0]

    t0 = t_star(times, weights)
    v_dot = np.sum(weights * dkappa(t0 - times, 10.0, 5.0))
    assert v_dot > 0
    eps = 1e-6
    for j in range(2):
        dw = np.eye(2)[j] * eps
        fd_w = (t_star(times, weights + dw) - t_star(times, weights - dw)) / (2 * eps)
        assert fd_w == pytest.approx(-kappa(t0 - times[j], 10.0, 5.0) / v_dot, rel=1e-6)  # −(∂V/∂w_j)/V̇
        fd_t = (t_star(times + dw, weights) - t_star(times - dw, weights)) / (2 * eps)
        assert fd_t == pytest.approx(weights[j] * dkappa(t0 - times[j], 10.0, 5.0) / v_dot, rel=1e-6)


def test_input_order_and_coincident_spikes():
    lif = LIFParams(tau_mem=20.0, tau_syn=5.0)
    t = np.linspace(0.0, 20.0, 41)
    repeats = [np.array([1.0, 4.0, 4.0])]  # I jumps by 3 at 1 ms and by 6 at 4 ms in all three networks
    merged = simulate(repeats, [Layer(np.array([[3.0]]), None)], lif, 20.0, t)
    split = simulate([np.array([4.0, 1.0]), np.array([4.0])], [Layer(np.array([[3.0, 3.0]]), None)], lif, 20.0, t)
    summed = simulate(repeats * 2, [Layer(np.array([[1.0, 2.0]]), None)], lif, 20.0, t[::-1])
    assert len(merged.spike_times[0][0]) == 1
    np.testing.assert_allclose(split.voltage, merged.voltage, atol=1e-14)
    np.testing.assert_allclose(summed.voltage[::-1], merged.voltage, atol=1e-14)
    for other in (split, summed):
        np.testing.assert_allclose(other.spike_times[0][0], merged.spike_times[0][0], rtol=0, atol=1e-13)


def test_readout_agrees_with_grid_model_to_first_order_in_dt():
    lif = LIFParams(tau_mem=10.0, tau_syn=5.0)
    rng = np.random.default_rng(0)
    t_end = 30.0
    inputs = [np.sort(rng.choice(np.arange(60) * 0.5, size=5, replace=False)) for _ in range(4)]  # 0.5 ms grid
    w1, w2 = rng.normal(0.8, 0.4, size=(5, 4)), rng.normal(0.0, 1.0, size=(3, 5))
    samples = np.arange(1, 61) * 0.5
    sim = simulate(inputs, [Layer(w1, None), Layer(w2, None, spiking=False)], lif, t_end, samples)
    n_spikes = sum(len(s) for s in sim.spike_times[0])
    assert 10 <= n_spikes <= 40 and all(len(s) >= 1 for s in sim.spike_times[0])
    assert [len(s) for s in sim.spike_times[1]] == [0, 0, 0]  # a non-spiking readout

    def grid(dt):
        p = lif._replace(dt=dt)
        n = round(t_end / dt)
        x = torch.zeros(n, 1, 4, dtype=torch.float64)
        for j, ts in enumerate(inputs):
            for t in ts:
                x[round(t / dt), 0, j] += 1  # inputs at step n are those at time nΔt
        s1, s2 = rest_state(1, 5, x), rest_state(1, 3, x)
        us, count = [], 0
        for x_n in x:
            z, _, s1 = lif_step(x_n @ torch.from_numpy(w1).T, s1, p, spike_fn=lambda a: (a >= 0).to(a.dtype))
            _, u, s2 = lif_step(z @ torch.from_numpy(w2).T, s2, p)  # z_n enters the readout in step n
            us.append(u[0].numpy())
            count += int(z.sum())
        return np.stack(us)[np.round(samples / dt).astype(int) - 1], count  # U_n is V at (n+1)Δt

    dts = 0.5 / 2.0 ** np.arange(1, 6)
    errors, counts = zip(*[(np.abs(u - sim.voltage).max(), c) for u, c in map(grid, dts)], strict=True)
    ratios = np.array(errors) / dts
    assert counts[-1] == n_spikes
    assert ratios.max() < 3 * ratios.min() and ratios.max() < 2.0  # error ∝ Δt
    assert errors[-1] < errors[0] / 10


def test_recurrent_spike_arrives_at_the_same_instant():
    lif = LIFParams(tau_mem=10.0, tau_syn=5.0)
    layer = Layer(np.array([[6.0], [0.0]]), np.array([[0.0, 0.0], [6.0, 0.0]]))
    first, second = simulate([np.array([2.0])], [layer], lif, 30.0, np.zeros(0)).spike_times[0]
    assert len(first) == 1 and len(second) == 1
    (delay,) = one_neuron([0.0], [6.0], lif).spike_times[0][0]  # the same neuron driven at t = 0 directly
    assert second[0] > first[0]
    assert second[0] == pytest.approx(first[0] + delay, abs=1e-12)


def test_runaway_self_excitation_raises():
    layer = Layer(np.array([[10.0]]), np.array([[10.0]]))  # each spike adds 10 to its own I
    with pytest.raises(RuntimeError, match="max_spikes_per_neuron"):
        simulate([np.array([0.0])], [layer], LIFParams(), 100.0, np.zeros(0), max_spikes_per_neuron=50)


GOOD = {
    "input_times": [np.array([1.0])],
    "layers": [Layer(np.ones((2, 1)), None), Layer(np.ones((1, 2)), None, spiking=False)],
    "lif": LIFParams(),
    "t_end": 10.0,
    "sample_times": np.array([0.0, 10.0]),
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"input_times": [np.array([np.nan])]}, "finite"),
        ({"input_times": [np.array([-1.0])]}, ">= 0"),
        ({"input_times": [np.ones((1, 1))]}, "1-D"),
        ({"layers": [Layer(np.ones((2, 3)), None)]}, "shape"),
        ({"layers": [Layer(np.ones((2, 1)), np.ones((2, 3)))]}, "recurrent"),
        ({"layers": [Layer(np.ones((2, 1)), None, spiking=False), Layer(np.ones((1, 2)), None)]}, "last layer"),
        ({"layers": [Layer(np.full((2, 1), np.inf), None)]}, "non-finite"),
        ({"layers": []}, "at least one"),
        ({"lif": LIFParams(reset="subtract")}, "zero"),
        ({"t_end": 0.0}, "t_end"),
        ({"sample_times": np.array([11.0])}, "sample_times"),
    ],
)
def test_bad_inputs_raise(change, message):
    simulate(**GOOD)  # the unchanged arguments are valid
    with pytest.raises(ValueError, match=message):
        simulate(**{**GOOD, **change})
