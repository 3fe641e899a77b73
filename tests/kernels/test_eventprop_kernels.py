"""Whole-trial EventProp kernels: the Numba (CPU) and Triton launchers against the PyTorch references on ragged
sizes (forward with and without recurrence, the LI readout, traces, a full spike buffer; backward with every
combination of optional sources), hand-computed golden values, the dense <-> event-list conversions, dispatch and
bad input. Without CUDA the Triton launchers run in the interpreter (see tests/conftest.py), so sizes stay small."""

import pytest
import torch

from spikegrad.kernels import eventprop as kp
from spikegrad.kernels import eventprop_cpu as kc
from spikegrad.kernels.event_lists import (
    BackwardTrial,
    EventList,
    LayerConstants,
    dense_from_events,
    events_from_dense_ref,
    sample_of,
)
from spikegrad.model import LIFParams, decay_factors, step_average_coefficients

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-4, torch.float64: 1e-11}  # sums in event order vs the reference's matrix products
DTYPES = [torch.float32, torch.float64]
IMPLS = {"numba": (kc.trial_fwd, kc.trial_bwd), "triton": (kp.trial_fwd, kp.trial_bwd)}
LIF = LIFParams(tau_mem=20.0, tau_syn=5.0, threshold=1.0, dt=1.0)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _constants(n: int, dtype, lif: LIFParams = LIF, spread: float = 0.0) -> LayerConstants:
    """Constants of ``lif`` per neuron, with τ_m, τ_s spread by ±``spread`` across neurons (trainable τ)."""
    scale = 1 + spread * torch.linspace(-1, 1, n, dtype=torch.float64)
    tau_mem, tau_syn = lif.tau_mem * scale, lif.tau_syn * scale.flip(0)
    alpha, beta = torch.exp(-lif.dt / tau_mem), torch.exp(-lif.dt / tau_syn)
    c = tau_syn / (tau_mem - tau_syn) * (alpha - beta)
    values = (alpha, beta, c, c * tau_mem / tau_syn, tau_mem, tau_syn)
    return LayerConstants(*(v.to(dtype=dtype, device=DEVICE) for v in values), lif.threshold)


def _inputs(steps, batch, n_in, dtype, seed, p=0.2, values=False):
    x = (torch.rand(steps, batch, n_in, generator=_gen(seed)) < p).to(torch.float64)
    if values:
        x = x * (0.5 + torch.rand(x.shape, generator=_gen(seed + 1), dtype=torch.float64))
    return events_from_dense_ref(x.to(dtype=dtype, device=DEVICE))


def _weights(n_in, n, dtype, seed, mean=0.6, std=0.8):
    w = torch.randn(n_in, n, generator=_gen(seed), dtype=torch.float64) * std + mean
    return w.to(dtype=dtype, device=DEVICE)


def _close(actual, expected, dtype, name=""):
    if expected is None or actual is None:
        assert actual is None and expected is None, name
        return
    if expected.dtype.is_floating_point:
        torch.testing.assert_close(actual, expected, rtol=TOL[dtype], atol=TOL[dtype], msg=name)
    else:
        assert torch.equal(actual, expected), name


# --- forward ---------------------------------------------------------------------------------------------------

FORWARD_CASES = {  # (steps, batch, n_in, n, recurrent, li, traces, capacity)
    "feed-forward": (23, 3, 7, 5, False, False, False, 60),
    "recurrent": (19, 2, 6, 13, True, False, False, 80),
    "traces, recurrent": (17, 3, 9, 6, True, False, True, 40),
    "li readout": (21, 2, 9, 3, False, True, False, 0),
    "full buffer": (25, 3, 7, 5, True, False, False, 4),  # samples fire more than the room they have
    "empty batch row": (15, 4, 7, 33, False, False, False, 50),
}


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("case", sorted(FORWARD_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_reference(impl, case, dtype):
    steps, batch, n_in, n, recurrent, li, traces, capacity = FORWARD_CASES[case]
    inputs = _inputs(steps, batch, n_in, dtype, seed=1, values=True)
    if case == "empty batch row":  # sample 1 gets no input at all
        keep = sample_of(inputs) != 1
        counts = torch.bincount(sample_of(inputs)[keep], minlength=batch)
        offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(inputs.offsets)
        inputs = EventList(offsets, *(x[keep] for x in inputs[1:]))
    w_t = _weights(n_in, n, dtype, seed=2)
    rec_t = _weights(n, n, dtype, seed=3, mean=0.0, std=0.4) if recurrent else None
    k = _constants(n, dtype, spread=0.2 if traces else 0.0)
    step_avg = step_average_coefficients(LIF)
    expected = kp.trial_fwd_ref(inputs, w_t, rec_t, k, steps, capacity, li, step_avg, traces)
    got = IMPLS[impl][0](inputs, w_t, rec_t, k, steps, capacity, li, step_avg, traces)
    assert li or expected.count.sum() > 3, "the case must make the layer fire"
    if case == "full buffer":
        assert (expected.total > capacity).any() and (expected.total <= capacity).any()
    for name, a, b in zip(expected._fields, got, expected, strict=True):
        _close(a, b, dtype, name)


def test_forward_golden_values():
    # one neuron, one input event of weight w at step 1 of 2: I' = w, U_1 = c·w = 1.5 ≥ ϑ, a spike at step 1
    alpha, beta, c = decay_factors(LIF)
    w = 1.5 / c
    inputs = EventList(*(torch.tensor(v) for v in ([0, 1], [1], [0])), torch.tensor([1.0], dtype=torch.float64))
    w_t = torch.tensor([[w]], dtype=torch.float64)
    for fwd in (kp.trial_fwd_ref, kc.trial_fwd, kp.trial_fwd):
        out = fwd(inputs, w_t, None, _constants(1, torch.float64), 2, 2)
        assert out.total.tolist() == [1] and out.out_step[0, 0] == 1 and out.out_unit[0, 0] == 0
        assert out.count.tolist() == [[1]] and out.first_step.tolist() == [[1]]
        frac = 1.0 / 1.5  # crossing at (ϑ − V_0)/(U_1 − V_0) of the step
        assert out.first_frac.item() == pytest.approx(frac, rel=1e-14)
        assert out.out_imv[0, 0].item() == pytest.approx(w * beta**frac - 1.0, rel=1e-14)  # I(t̂) − ϑ


def test_forward_golden_li_readout():
    # Ū_n = a₁U_n + a₂U_{n−1} of U_n = Σ c βⁿ⁻¹... for one input at step 0
    alpha, beta, c = decay_factors(LIF)
    a1, a2 = step_average_coefficients(LIF)
    inputs = EventList(*(torch.tensor(v) for v in ([0, 1], [0], [0])), torch.tensor([2.0], dtype=torch.float64))
    u = [2.0 * c]
    for _ in range(3):
        u.append(alpha * u[-1] + c * beta ** len(u) * 2.0)
    expected = torch.tensor([a1 * u[0]] + [a1 * u[n] + a2 * u[n - 1] for n in range(1, 4)], dtype=torch.float64)
    for fwd in (kp.trial_fwd_ref, kc.trial_fwd, kp.trial_fwd):
        out = fwd(inputs, torch.ones(1, 1, dtype=torch.float64), None, _constants(1, torch.float64), 4, 0, li=True,
                  step_avg=(a1, a2))  # fmt: skip
        torch.testing.assert_close(out.ubar[:, 0, 0], expected, rtol=1e-14, atol=0)


# --- backward --------------------------------------------------------------------------------------------------

SOURCES = ("g_out", "g_first", "jump")


def _forward_for_backward(dtype, recurrent, li=False, traces=False):
    steps, batch, n_in, n = 21, 3, 7, 6 if not li else 4
    inputs = _inputs(steps, batch, n_in, dtype, seed=5, values=True)
    w_t = _weights(n_in, n, dtype, seed=6)
    w_t[:, 0] = -0.5  # neuron 0 stays silent (a phantom spike)
    rec_t = _weights(n, n, dtype, seed=7, mean=0.0, std=0.4) if recurrent else None
    if recurrent:
        rec_t[:, 0] = 0.0
    k = _constants(n, dtype, spread=0.2 if traces else 0.0)
    out = kp.trial_fwd_ref(inputs, w_t, rec_t, k, steps, 10 * steps if not li else 0, li, traces=traces)
    keep = torch.arange(out.out_step.shape[1], device=DEVICE) < out.total[:, None]
    offsets = torch.cat([out.total.new_zeros(1), out.total.cumsum(0)])
    spikes = EventList(offsets, out.out_step[keep], out.out_unit[keep], torch.ones_like(out.out_imv[keep]))
    return inputs, w_t, rec_t, k, steps, spikes, out.out_imv[keep], out


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("present", [(), SOURCES, ("g_out",), ("g_first", "jump")])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_matches_reference(impl, present, recurrent, dtype):
    inputs, w_t, rec_t, k, steps, spikes, imv, out = _forward_for_backward(dtype, recurrent, traces=recurrent)
    batch, n = out.count.shape
    assert out.count.sum() > 5 and (out.count == 0).any(), "spikes and a silent neuron (phantom spike)"
    sources = {
        "g_out": torch.randn(len(imv), generator=_gen(8), dtype=torch.float64),
        "g_first": torch.randn(batch, n, generator=_gen(9), dtype=torch.float64),
        "jump": 0.1 * torch.randn(batch, n, generator=_gen(10), dtype=torch.float64),
    }
    kwargs = {name: sources[name].to(dtype=dtype, device=DEVICE) for name in present}
    if recurrent:
        kwargs["traces"] = (out.v_before, out.i_after, LIF.dt)
    args = (inputs, w_t, rec_t, k, steps, spikes, imv, out.count, out.first_step)
    expected = kp.trial_bwd_ref(*args, need_grad_in=True, record=True, **kwargs)
    got = IMPLS[impl][1](*args, need_grad_in=True, record=True, **kwargs)
    assert expected.grad_wt.abs().max() > 0 or not present
    for name, a, b in zip(expected._fields, got, expected, strict=True):
        _close(a, b, dtype, name)


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("need_grad_in", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_of_the_li_readout_matches_reference(impl, need_grad_in, dtype):
    inputs, w_t, _, k, steps, _, _, out = _forward_for_backward(dtype, recurrent=False, li=True)
    batch, n = out.count.shape
    none = EventList(inputs.offsets.new_zeros(batch + 1), *(x[:0] for x in inputs[1:]))
    drive = torch.randn(steps, batch, n, generator=_gen(11), dtype=torch.float64).to(dtype=dtype, device=DEVICE)
    args = (inputs, w_t, None, k, steps, none, none.value, out.count, out.first_step)
    kwargs = {"drive": drive, "drive_scale": -1.0 / LIF.dt, "need_grad_in": need_grad_in}
    expected = kp.trial_bwd_ref(*args, **kwargs)
    got = IMPLS[impl][1](*args, **kwargs)
    for name, a, b in zip(expected._fields, got, expected, strict=True):
        _close(a, b, dtype, name)


def test_backward_golden_jump_and_weight_gradient():
    # one input event (step 0, value 2) into one neuron that spikes once at step 2 with τ_m V̇ = s; with
    # g = ∂L/∂t of that spike, λ_V jumps to g/s at the spike, decays for 2 steps, and ∂L/∂w = −τ_s·2·λ_I(0)
    alpha, beta, c = decay_factors(LIF)
    c_adj = c * LIF.tau_mem / LIF.tau_syn
    inputs = EventList(*(torch.tensor(v) for v in ([0, 1], [0], [0])), torch.tensor([2.0], dtype=torch.float64))
    spikes = EventList(*(torch.tensor(v) for v in ([0, 1], [2], [0])), torch.tensor([1.0], dtype=torch.float64))
    s, g = 0.7, 0.3
    lam_v, lam_i = g / s, 0.0
    for _ in range(3):  # steps 2, 1, 0 (the jump happens at the start of the backward step 2)
        lam_v, lam_i = alpha * lam_v, beta * lam_i + c_adj * lam_v
    expected_w = -LIF.tau_syn * 2.0 * lam_i
    expected_t = 1.0 * (lam_v - lam_i)  # ∂L/∂t of the input event through w = 1
    count, first = torch.tensor([[1]], dtype=torch.int32), torch.tensor([[2]], dtype=torch.int32)
    for bwd in (kp.trial_bwd_ref, kc.trial_bwd, kp.trial_bwd):
        got = bwd(inputs, torch.ones(1, 1, dtype=torch.float64), None, _constants(1, torch.float64), 4, spikes,
                  torch.tensor([s], dtype=torch.float64), count, first, g_out=torch.tensor([g], dtype=torch.float64),
                  need_grad_in=True)  # fmt: skip
        assert got.grad_wt.item() == pytest.approx(expected_w, rel=1e-13)
        assert got.grad_in.item() == pytest.approx(expected_t, rel=1e-13)


# --- event lists, dispatch, bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(13, 5, 7), (1, 1, 1), (6, 3, 130)])
def test_events_from_dense_matches_reference_and_round_trips(shape, dtype):
    x = torch.rand(shape, generator=_gen(12), dtype=torch.float64)
    x = torch.where(x < 0.2, x + 0.5, 0.0).to(dtype)
    x[:, 0] = 0.0  # a sample without events
    got, expected = kp.events_from_dense(x), events_from_dense_ref(x)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a.to(b.dtype), b)
    assert torch.equal(dense_from_events(got, *shape[::2]), x)


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU dispatch")
def test_dispatch_uses_numba_on_the_cpu(monkeypatch):
    calls = []
    for name in ("trial_fwd", "trial_bwd"):
        real = getattr(kc, name)
        monkeypatch.setattr(kc, name, lambda *a, _r=real, _n=name, **kw: calls.append(_n) or _r(*a, **kw))
    inputs, w_t, rec_t, k, steps, spikes, imv, out = _forward_for_backward(torch.float64, recurrent=True)
    kp.trial_forward(inputs, w_t, rec_t, k, steps, 10)
    kp.trial_backward(inputs, w_t, rec_t, k, steps, spikes, imv, out.count, out.first_step)
    assert calls == ["trial_fwd", "trial_bwd"]


def test_bad_input_is_rejected():
    inputs = _inputs(5, 2, 4, torch.float64, seed=13)
    w_t, k = _weights(4, 3, torch.float64, seed=14), _constants(3, torch.float64)
    for fwd in (kc.trial_fwd, kp.trial_fwd):
        with pytest.raises(ValueError, match="rec_t must be"):
            fwd(inputs, w_t, w_t, k, 5, 4)
        with pytest.raises(ValueError, match="constants.alpha must be"):
            fwd(inputs, w_t, None, k._replace(alpha=k.alpha[:2]), 5, 4)
        with pytest.raises(ValueError, match="inputs.value must be"):
            fwd(inputs._replace(value=inputs.value.float()), w_t, None, k, 5, 4)
        with pytest.raises(ValueError, match="one entry per event"):
            fwd(inputs._replace(unit=inputs.unit[:-1]), w_t, None, k, 5, 4)
        with pytest.raises(ValueError, match=r"steps must lie in \[0, 4\)"):
            fwd(inputs, w_t, None, k, 4, 4)  # the raster has 5 steps
        with pytest.raises(ValueError, match=r"units must lie in \[0, 3\)"):
            fwd(inputs, w_t[:3], None, k, 5, 4)
    with pytest.raises(ValueError, match="at most"):
        kp._block(kp.MAX_BLOCK_N + 1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_dispatch_matches_reference(dtype):
    inputs, w_t, rec_t, k, steps, spikes, imv, out = _forward_for_backward(dtype, recurrent=True, traces=True)
    got = kp.trial_forward(inputs, w_t, rec_t, k, steps, 10 * steps, traces=True)
    for name, a, b in zip(out._fields, got, out, strict=True):
        _close(a, b, dtype, name)
    g = torch.randn(len(imv), generator=_gen(15), dtype=torch.float64).to(dtype=dtype, device=DEVICE)
    args = (inputs, w_t, rec_t, k, steps, spikes, imv, out.count, out.first_step)
    kwargs = {"g_out": g, "need_grad_in": True, "traces": (out.v_before, out.i_after, LIF.dt)}
    for name, a, b in zip(
        BackwardTrial._fields, kp.trial_backward(*args, **kwargs), kp.trial_bwd_ref(*args, **kwargs), strict=True
    ):
        _close(a, b, dtype, name)
