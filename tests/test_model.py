import math

import pytest
import torch

from spikegrad.model import (
    LIFParams,
    LIFState,
    WeightInit,
    decay_factors,
    dense_stack,
    init_weights,
    lif_step,
    rest_state,
)
from spikegrad.surrogate import spike


def closed_form_psp(t, w, tau_mem, tau_syn):
    """V(t) after a current jump of w at t = 0 from rest: w τs/(τm−τs)(e^{−t/τm} − e^{−t/τs})."""
    return w * tau_syn / (tau_mem - tau_syn) * (math.exp(-t / tau_mem) - math.exp(-t / tau_syn))


def run(h, p, spike_fn=None):
    state = rest_state(h.shape[1], h.shape[2], h)
    us, zs = [], []
    for h_t in h:
        z, u, state = lif_step(h_t, state, p, spike_fn)
        us.append(u)
        zs.append(z)
    return torch.stack(zs), torch.stack(us)


def test_decay_factors_match_definitions():
    p = LIFParams(tau_mem=20.0, tau_syn=5.0, dt=0.5)
    alpha, beta, c = decay_factors(p)
    assert alpha == pytest.approx(math.exp(-0.5 / 20))
    assert beta == pytest.approx(math.exp(-0.5 / 5))
    assert c == pytest.approx(5 / 15 * (math.exp(-0.5 / 20) - math.exp(-0.5 / 5)))


def test_equal_time_constants_use_the_continuous_limit():
    c_equal = decay_factors(LIFParams(tau_mem=10.0, tau_syn=10.0, dt=1.0)).c
    c_near = decay_factors(LIFParams(tau_mem=10.0, tau_syn=10.0 * (1 + 1e-7), dt=1.0)).c
    assert c_equal == pytest.approx(0.1 * math.exp(-0.1))
    assert c_near == pytest.approx(c_equal, rel=1e-5)


@pytest.mark.parametrize("dt", [0.1, 1.0])
def test_voltage_matches_closed_form_solution_of_the_ode(dt):
    p = LIFParams(tau_mem=20.0, tau_syn=5.0, dt=dt)
    n = int(60 / dt)
    h = torch.zeros(n, 1, 1, dtype=torch.float64)
    h[0] = 0.7  # one input spike of weight 0.7 at t = 0
    h[int(10 / dt)] = -0.3  # and one of weight -0.3 at t = 10 ms
    _, u = run(h, p)
    t = (torch.arange(n, dtype=torch.float64) + 1) * dt  # U_n is the voltage at the end of step n
    expected = [
        closed_form_psp(ti, 0.7, 20.0, 5.0) + (closed_form_psp(ti - 10, -0.3, 20.0, 5.0) if ti > 10 else 0.0)
        for ti in t.tolist()
    ]
    assert torch.allclose(u[:, 0, 0], torch.tensor(expected, dtype=torch.float64), atol=1e-12)


def test_golden_steps_with_reset_to_zero_and_subtract():
    # α = e^{-1/20} = 0.9512, β = e^{-1/5} = 0.8187, c = (5/15)(α − β) = 0.04417; drive h = 15 every step:
    # U1 = 15c = 0.663 (silent), U2 = αU1 + c(15β + 15) = 1.835 (spike, V <- 0), U3 = c·I' = 1.649 (spike).
    p = LIFParams(tau_mem=20.0, tau_syn=5.0, dt=1.0, threshold=1.0)
    alpha, beta, c = decay_factors(p)
    h = torch.full((3, 1, 1), 15.0, dtype=torch.float64)
    z, u = run(h, p, lambda x: spike(x))
    i1 = 15.0
    u1 = c * i1
    i2 = beta * i1 + 15.0
    u2 = alpha * u1 + c * i2
    i3 = beta * i2 + 15.0
    u3 = alpha * 0.0 + c * i3
    assert torch.allclose(u[:, 0, 0], torch.tensor([u1, u2, u3], dtype=torch.float64))
    assert torch.allclose(u[:, 0, 0], torch.tensor([0.6625, 1.8351, 1.6490], dtype=torch.float64), atol=1e-4)
    assert z[:, 0, 0].tolist() == [0.0, 1.0, 1.0]
    _, u_sub = run(h, p._replace(reset="subtract"), lambda x: spike(x))
    assert u_sub[2, 0, 0].item() == pytest.approx(alpha * (u2 - 1.0) + c * i3)


def test_lif_step_is_pure():
    p = LIFParams()
    state = LIFState(torch.zeros(2, 3), torch.ones(2, 3))
    before = [t.clone() for t in state]
    lif_step(torch.ones(2, 3), state, p, lambda x: spike(x))
    assert all(torch.equal(a, b) for a, b in zip(before, state, strict=True))


@pytest.mark.parametrize(
    "bad",
    [dict(tau_mem=-1.0), dict(tau_syn=0.0), dict(dt=float("nan")), dict(threshold=0.0), dict(reset="x")],
)
def test_invalid_parameters_raise_a_clear_error(bad):
    with pytest.raises(ValueError, match="LIFParams"):
        decay_factors(LIFParams()._replace(**bad))


def test_init_weights_shapes_statistics_and_determinism():
    spec = dense_stack(400, (300, 200), 10, recurrent=True, hidden_init=WeightInit(1.0, 2.0))
    w = init_weights(spec, seed=3)
    assert {k: tuple(v.shape) for k, v in w.items()} == {
        "hidden.0.weight": (300, 400),
        "hidden.0.recurrent": (300, 300),
        "hidden.1.weight": (200, 300),
        "hidden.1.recurrent": (200, 200),
        "readout.weight": (10, 200),
    }
    w0 = w["hidden.0.weight"]
    assert w0.mean().item() == pytest.approx(1.0 / 20, abs=0.002)  # mean/sqrt(400)
    assert w0.std().item() == pytest.approx(2.0 / 20, rel=0.02)
    again = init_weights(spec, seed=3)
    assert all(torch.equal(w[k], again[k]) for k in w)
    assert not torch.equal(w0, init_weights(spec, seed=4)["hidden.0.weight"])
    with pytest.raises(ValueError, match="positive"):
        init_weights(dense_stack(400, (0,), 10))
