"""EventProp step kernels: the Triton launchers against the PyTorch references, one step at a time (ragged sizes,
buffer overflow, optional inputs, empty and repeated events) and in a short forward + backward loop of a recurrent
LIF layer feeding an LI readout. Without CUDA the launchers run in the Triton interpreter (see tests/conftest.py),
so the sizes stay small."""

import math

import pytest
import torch

from spikegrad.kernels.eventprop import (
    BLOCK,
    BLOCK_E,
    BLOCK_I,
    EventConstants,
    SpikeBuffer,
    crossing,
    empty_buffer,
    neuron_bwd_step,
    neuron_bwd_step_ref,
    neuron_bwd_step_triton,
    neuron_fwd_step,
    neuron_fwd_step_ref,
    neuron_fwd_step_triton,
    spiked_at,
    step_events,
    synapse_bwd_step,
    synapse_bwd_step_ref,
    synapse_bwd_step_triton,
)
from spikegrad.kernels.lif_scan import lif_scan_fwd_ref
from spikegrad.model import LIFParams, decay_factors

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}  # one step
LOOP_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}  # T steps of adjoint jumps, reductions in another order
DTYPES = [torch.float32, torch.float64]
RAGGED = [(3, 37), (2, BLOCK // 2 + 3)]  # B·N = 111 < BLOCK, and 2 programs with a partial second one


def _constants(lif: LIFParams = LIFParams(tau_mem=20.0, tau_syn=5.0, threshold=1.0, dt=1.0)) -> EventConstants:
    alpha, beta, c = decay_factors(lif)
    return EventConstants(alpha, beta, c, c * lif.tau_mem / lif.tau_syn, lif.threshold, lif.tau_mem, lif.tau_syn)


K = _constants()


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(shape, dtype, seed, scale=1.0, shift=0.0):
    x = torch.randn(shape, generator=_gen(seed), dtype=torch.float64)
    return (x * scale + shift).to(dtype=dtype, device=DEVICE)


def _randint(low, high, shape, seed, dtype=torch.int32):
    return torch.randint(low, high, shape, generator=_gen(seed)).to(dtype=dtype, device=DEVICE)


def _close(actual, expected, tol):
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


def _clone(buf: SpikeBuffer) -> SpikeBuffer:
    return SpikeBuffer(*(x.clone() for x in buf))


def _random_buffer(batch, n, capacity, dtype, seed, max_count, n_steps=4):
    """A filled buffer: counts in [0, max_count], steps in [0, n_steps), I − U bounded away from 0."""
    steps = _randint(0, n_steps, (batch, n, capacity), seed)
    imv = _randn((batch, n, capacity), dtype, seed + 1).sign() * (0.3 + _randn((batch, n, capacity), dtype, seed + 2))
    imv = torch.where(imv.abs() < 0.3, 0.3, imv)
    count = _randint(0, max_count + 1, (batch, n), seed + 3)
    return SpikeBuffer(steps, imv, count, _randn((batch, n), dtype, seed + 4).abs())


# --- forward step ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", RAGGED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_neuron_fwd_matches_reference(shape, dtype):
    capacity, n = 3, 5
    v, i = _randn(shape, dtype, seed=0, scale=0.4, shift=0.5), _randn(shape, dtype, seed=1, scale=0.5)
    h = _randn(shape, dtype, seed=2, scale=2.0, shift=1.0)
    buf = _random_buffer(*shape, capacity, dtype, seed=3, max_count=capacity + 2)  # counts ≥ K: overflow
    before, buf_ref = _clone(buf), _clone(buf)
    z, v_new, i_new = neuron_fwd_step_triton(h, v, i, buf, n, K)
    z_ref, v_ref, i_ref = neuron_fwd_step_ref(h, v, i, buf_ref, n, K)
    assert z.dtype == v_new.dtype == i_new.dtype == dtype and z.shape == shape
    torch.testing.assert_close(z, z_ref, rtol=0, atol=0)
    _close(v_new, v_ref, TOL[dtype])
    _close(i_new, i_ref, TOL[dtype])
    torch.testing.assert_close(buf.steps, buf_ref.steps, rtol=0, atol=0)
    torch.testing.assert_close(buf.count, buf_ref.count, rtol=0, atol=0)
    _close(buf.imv, buf_ref.imv, TOL[dtype])
    # the comparison covers silent neurons, spikes that are recorded and spikes of full buffers
    spiked = z.bool()
    room = before.count < capacity
    assert (~spiked).any() and (spiked & room).any() and (spiked & ~room).any()
    assert torch.equal(buf.count, before.count + spiked.int())
    written = (buf.steps != before.steps).any(-1) | (buf.imv != before.imv).any(-1)
    assert torch.equal(written, spiked & room)  # overflowing neurons count on but write nothing
    b, j = (spiked & room).nonzero(as_tuple=True)
    slot = before.count[b, j].long()
    assert (buf.steps[b, j, slot] == n).all()
    u = K.alpha * v + K.c * (i + h)
    frac, slope = crossing(v[b, j], u[b, j], (i + h)[b, j], K)  # τ_m V̇ at the interpolated crossing
    _close(buf.imv[b, j, slot], slope, TOL[dtype])
    first = slot == 0  # the crossing fraction of a neuron's first spike
    _close(buf.first[b[first], j[first]], frac[first], TOL[dtype])


@pytest.mark.parametrize("impl", [neuron_fwd_step_triton, neuron_fwd_step_ref])
def test_neuron_fwd_golden(impl):
    # α = 0.8, β = 0.5, c = 1, ϑ = 1.2; V = 1, I = 0.5, h = 0.1 at step n = 7:
    #   I' = 0.6, U = 0.8·1 + 0.6 = 1.4 ≥ ϑ  ->  z = 1, V = 0, I = 0.3; crossing at f = (1.2 − 1)/(1.4 − 1) = 0.5:
    #   I' β^f − ϑ = 0.6·√0.5 − 1.2 = −0.776 < floor 0.1·(I' − ϑ) = −0.06, so record (7, −0.06)
    # a second neuron with V = 0: U = 0.6 < ϑ  ->  z = 0, V = 0.6, I = 0.3, nothing recorded
    k = EventConstants(0.8, 0.5, 1.0, 4.0, 1.2, 20.0, 5.0)
    f64 = {"dtype": torch.float64, "device": DEVICE}
    v, i, h = torch.tensor([[1.0, 0.0]], **f64), torch.tensor([[0.5, 0.5]], **f64), torch.full((1, 2), 0.1, **f64)
    buf = empty_buffer(1, 2, 2, v)
    z, v, i = impl(h, v, i, buf, 7, k)
    _close(z, torch.tensor([[1.0, 0.0]], **f64), 1e-12)
    _close(v, torch.tensor([[0.0, 0.6]], **f64), 1e-12)
    _close(i, torch.tensor([[0.3, 0.3]], **f64), 1e-12)
    assert buf.count.tolist() == [[1, 0]] and buf.steps.tolist() == [[[7, -1], [-1, -1]]]
    _close(buf.imv, torch.tensor([[[-0.06, 0.0], [0.0, 0.0]]], **f64), 1e-12)


# --- backward step -----------------------------------------------------------------------------------------------


def _bwd_inputs(shape, dtype, seed, capacity=4, n=2):
    lam_v, lam_i = _randn(shape, dtype, seed), _randn(shape, dtype, seed + 1)
    buf = _random_buffer(*shape, capacity, dtype, seed + 2, max_count=capacity + 1)
    # last unread slot: the newest spike, or one further back (some neurons already read past all: ptr = −1)
    ptr = (buf.count.clamp(max=capacity) - 1 - _randint(0, 2, shape, seed + 3)).clamp(min=-1)
    extra = {name: _randn(shape, dtype, seed + 4 + m) for m, name in enumerate(("g", "g_first", "jump", "drive"))}
    return lam_v, lam_i, n, buf, ptr, extra


@pytest.mark.parametrize("shape", RAGGED)
@pytest.mark.parametrize("present", ["", "g", "g_first", "jump", "drive", "g,g_first,jump,drive", "g,jump"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_neuron_bwd_matches_reference(shape, present, dtype):
    lam_v, lam_i, n, buf, ptr, extra = _bwd_inputs(shape, dtype, seed=10)
    kwargs = {name: x for name, x in extra.items() if name in present.split(",")}
    ptr_ref, before = ptr.clone(), ptr.clone()
    spiked, _ = spiked_at(buf, ptr, n)
    assert (~spiked).any() and spiked.any() and (spiked & (ptr == 0)).any() and (ptr == -1).any()
    lv, li = neuron_bwd_step_triton(lam_v, lam_i, n, K, buf, ptr, **kwargs)
    lv_ref, li_ref = neuron_bwd_step_ref(lam_v, lam_i, n, K, buf, ptr_ref, **kwargs)
    assert lv.dtype == li.dtype == dtype and lv.shape == shape
    _close(lv, lv_ref, TOL[dtype])
    _close(li, li_ref, TOL[dtype])
    assert torch.equal(ptr, ptr_ref)
    assert torch.equal(ptr, before - spiked.to(ptr.dtype))  # decremented in place past the spikes at step n


@pytest.mark.parametrize("present", ["", "drive", "g,g_first,jump,drive"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_neuron_bwd_without_buffer_matches_reference(present, dtype):
    # without a buffer (LI readout) only ∂L/∂U and the decay act; g, g_first and jump are ignored, as in the reference
    lam_v, lam_i, n, _, _, extra = _bwd_inputs(RAGGED[1], dtype, seed=20)
    kwargs = {name: x for name, x in extra.items() if name in present.split(",")}
    lv, li = neuron_bwd_step_triton(lam_v, lam_i, n, K, **kwargs)
    lv_ref, li_ref = neuron_bwd_step_ref(lam_v, lam_i, n, K, **kwargs)
    _close(lv, lv_ref, TOL[dtype])
    _close(li, li_ref, TOL[dtype])


def test_neuron_bwd_ptr_decrement_and_first_spike():
    # hand-checked jump: λ_V = 1, ϑ = 1, g = 0.5, g_first = 0.25 (slot 0 is the first spike), I − U = −2, jump = 0.1
    #   λ_V ← 1 + (1·1 + 0.5 + 0.25)/(−2) + 0.1 = 0.225, then α·λ_V; ptr 0 -> −1
    # the second neuron's slot 1 holds a spike of another step: unchanged, ptr stays 1, g_first not applied
    k = EventConstants(0.9, 0.8, 0.3, 1.2, 1.0, 20.0, 5.0)
    f64 = {"dtype": torch.float64, "device": DEVICE}
    buf = empty_buffer(1, 2, 2, torch.zeros(1, **f64))
    buf.steps.copy_(torch.tensor([[[3, -1], [1, 2]]]))
    buf.imv.copy_(torch.tensor([[[-2.0, 0.0], [-1.0, -1.0]]]))
    buf.count.fill_(1)
    for impl in (neuron_bwd_step_triton, neuron_bwd_step_ref):
        ptr = torch.tensor([[0, 1]], dtype=torch.int32, device=DEVICE)
        one = torch.ones(1, 2, **f64)
        lv, li = impl(one, one, 3, k, buf, ptr, g=0.5 * one, g_first=0.25 * one, jump=0.1 * one)
        _close(lv, torch.tensor([[0.9 * 0.225, 0.9]], **f64), 1e-12)
        _close(li, torch.tensor([[0.8 + 1.2 * 0.225, 0.8 + 1.2]], **f64), 1e-12)
        assert ptr.tolist() == [[-1, 1]]


# --- synapse backward --------------------------------------------------------------------------------------------


def _events(batch, n_in, n_events, dtype, seed, case):
    if case == "empty":
        b = j = torch.zeros(0, dtype=torch.int64, device=DEVICE)
    elif case == "repeated":  # one channel for all events, several per sample
        b = _randint(0, batch, (n_events,), seed, torch.int64)
        j = torch.full((n_events,), n_in // 2, dtype=torch.int64, device=DEVICE)
    else:
        b, j = _randint(0, batch, (n_events,), seed, torch.int64), _randint(0, n_in, (n_events,), seed + 1, torch.int64)
    value = _randn(b.shape, dtype, seed + 2, scale=0.3, shift=1.0)  # non-binary values exercise the product
    return b, j, value


@pytest.mark.parametrize("n_post", [37, BLOCK_I + 6])  # one partial block of neurons, or two
@pytest.mark.parametrize("case", ["random", "repeated", "empty"])
@pytest.mark.parametrize("need_grad_t", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_synapse_bwd_matches_reference(n_post, case, need_grad_t, dtype):
    batch, n_in, n_events = 3, 11, 2 * BLOCK_E + 5
    lam_v, lam_i = _randn((batch, n_post), dtype, seed=30), _randn((batch, n_post), dtype, seed=31)
    weight = _randn((n_post, n_in), dtype, seed=32)
    grad_w = _randn((n_post, n_in), dtype, seed=33)  # accumulated into, not overwritten
    b, j, value = _events(batch, n_in, n_events, dtype, seed=34, case=case)
    before, grad_w_ref = grad_w.clone(), grad_w.clone()
    grad_t = synapse_bwd_step_triton(lam_v, lam_i, b, j, value, weight, grad_w, K, need_grad_t)
    grad_t_ref = synapse_bwd_step_ref(lam_v, lam_i, b, j, value, weight, grad_w_ref, K, need_grad_t)
    _close(grad_w, grad_w_ref, TOL[dtype])
    if need_grad_t:
        assert grad_t.dtype == dtype and grad_t.shape == (b.numel(),)
        _close(grad_t, grad_t_ref, TOL[dtype])
    else:
        assert grad_t is None and grad_t_ref is None
    untouched = torch.ones(n_in, dtype=torch.bool, device=DEVICE)
    untouched[j] = False
    assert torch.equal(grad_w[:, untouched], before[:, untouched])  # only columns with an event change
    if case == "repeated":
        assert torch.bincount(b).max() > 1  # the same (sample, channel) pair several times: atomics add up


def test_synapse_bwd_golden():
    # τ_s = 5; events (b=0, j=1, value 1) and (b=1, j=1, value 2) on one column; λ_I = [[1, 2], [3, 4]]:
    #   ∂L/∂w_·1 = −5·(1·[1, 2] + 2·[3, 4]) = [−35, −50];  ∂L/∂t_e = Σ_i w_i1 (λ_V − λ_I)_{b_e, i}
    f64 = {"dtype": torch.float64, "device": DEVICE}
    lam_i, lam_v = torch.tensor([[1.0, 2.0], [3.0, 4.0]], **f64), torch.tensor([[2.0, 2.0], [4.0, 3.0]], **f64)
    weight = torch.tensor([[0.0, 0.5], [0.0, -1.0]], **f64)
    b, j = torch.tensor([0, 1], device=DEVICE), torch.tensor([1, 1], device=DEVICE)
    value = torch.tensor([1.0, 2.0], **f64)
    for impl in (synapse_bwd_step_triton, synapse_bwd_step_ref):
        grad_w = torch.zeros(2, 2, **f64)
        grad_t = impl(lam_v, lam_i, b, j, value, weight, grad_w, K._replace(tau_syn=5.0))
        _close(grad_w, torch.tensor([[0.0, -35.0], [0.0, -50.0]], **f64), 1e-12)
        _close(grad_t, torch.tensor([0.5 * 1 - 1.0 * 0, 0.5 * 1 - 1.0 * -1], **f64), 1e-12)


def test_launchers_update_non_contiguous_outputs_in_place():
    dtype, batch, n_post, n_in = torch.float64, 2, 13, 7
    lam_v, lam_i = _randn((batch, n_post), dtype, seed=40), _randn((batch, n_post), dtype, seed=41)
    weight = _randn((n_post, n_in), dtype, seed=42)
    b, j, value = _events(batch, n_in, 9, dtype, seed=43, case="random")
    grad_w = torch.zeros(n_in, n_post, dtype=dtype, device=DEVICE).T  # a transposed view
    grad_w_ref = torch.zeros(n_post, n_in, dtype=dtype, device=DEVICE)
    synapse_bwd_step_triton(lam_v, lam_i, b, j, value, weight, grad_w, K)
    synapse_bwd_step_ref(lam_v, lam_i, b, j, value, weight, grad_w_ref, K)
    _close(grad_w, grad_w_ref, TOL[dtype])
    lv, li, n, buf, ptr, _ = _bwd_inputs((n_post, batch), dtype, seed=44)
    ptr_t = ptr.T.contiguous().T  # same values, column-major
    neuron_bwd_step_triton(lv, li, n, K, buf, ptr_t)
    neuron_bwd_step_ref(lv, li, n, K, buf, ptr)
    assert not ptr_t.is_contiguous() and torch.equal(ptr_t, ptr)


def test_launchers_reject_bad_input():
    v = torch.zeros(2, 5, device=DEVICE)
    buf = empty_buffer(2, 5, 3, v)
    with pytest.raises(ValueError, match=r"h_n must be torch.float32 on"):
        neuron_fwd_step_triton(v.double(), v, v, buf, 0, K)
    with pytest.raises(ValueError, match=r"buf.steps must be int32/int64 of shape \(2, 5, 3\)"):
        neuron_fwd_step_triton(v, v, v, SpikeBuffer(buf.steps[:1], buf.imv, buf.count, buf.first), 0, K)
    with pytest.raises(ValueError, match="v must be float32 or float64, got torch.float16"):
        neuron_fwd_step_triton(v.half(), v.half(), v.half(), buf, 0, K)
    with pytest.raises(ValueError, match="ptr .* is required with buf"):
        neuron_bwd_step_triton(v, v, 0, K, buf)
    with pytest.raises(ValueError, match=r"drive must have shape \(2, 5\)"):
        neuron_bwd_step_triton(v, v, 0, K, drive=v[:1])
    idx = torch.zeros(3, dtype=torch.int64, device=DEVICE)
    with pytest.raises(ValueError, match=r"channel must be int32/int64 of shape \(3,\)"):
        synapse_bwd_step_triton(v, v, idx, idx[:2], idx.float(), v.T.contiguous(), v.T.contiguous(), K)


# --- a short forward + backward loop -----------------------------------------------------------------------------


def _network(x, w_hid, w_rec, w_out, grads, step_fns):
    """A recurrent LIF layer (EventProp buffers) feeding an LI readout, forward and backward with the given
    (neuron_fwd_step, neuron_bwd_step, synapse_bwd_step), as in spikegrad.engines.eventprop. ``grads`` holds
    ∂L/∂U of the readout [T, B, C], ∂L/∂counts and ∂L/∂first of the hidden layer [B, N]."""
    fwd, bwd, syn = step_fns
    steps, batch, _ = x.shape
    n = w_hid.shape[0]
    h = x @ w_hid.T
    buf = empty_buffer(batch, n, steps, h)
    z = torch.zeros_like(h)
    v = i = h.new_zeros(batch, n)
    for t in range(steps):
        z[t], v, i = fwd(h[t] if t == 0 else h[t] + z[t - 1] @ w_rec.T, v, i, buf, t, K)
    u = lif_scan_fwd_ref(z @ w_out.T, K.alpha, K.beta, K.c, math.inf)[1]

    def backward(inputs, weight, out_shape, buf=None, recurrent=None, **kw):
        events = step_events(inputs)
        lam_v, lam_i = weight.new_zeros(out_shape[1:]), weight.new_zeros(out_shape[1:])
        grad_w, grad_in = torch.zeros_like(weight), torch.zeros_like(inputs)
        grad_rec = None if recurrent is None else torch.zeros_like(recurrent)
        ptr = None
        if buf is not None:
            ptr = buf.count.clamp(max=buf.steps.shape[-1]) - 1
            lam_v = lam_v + torch.where(buf.count == 0, kw["g_first"] / K.theta, 0.0)
        g_rec = None
        for t in reversed(range(steps)):
            g = kw["grad_z"][t] if "grad_z" in kw else None
            g = g if g_rec is None else g + g_rec
            drive = kw["drive"][t] if "drive" in kw else None
            lam_v, lam_i = bwd(lam_v, lam_i, t, K, buf, ptr, g, kw.get("g_first"), kw.get("jump"), drive)
            lo, hi = events.offsets[t], events.offsets[t + 1]
            b, j = events.batch[lo:hi], events.channel[lo:hi]
            grad_in[t, b, j] = syn(lam_v, lam_i, b, j, events.value[lo:hi], weight, grad_w, K)
            if recurrent is not None and t > 0:
                prev = spiked_at(buf, ptr, t - 1)[0].to(lam_v.dtype)
                grad_rec.add_(lam_i.T @ prev, alpha=-K.tau_syn)
                g_rec = ((lam_v - lam_i) @ recurrent) * prev
        return grad_in, grad_w, grad_rec, ptr

    drive, grad_counts, grad_first = grads
    grad_z, grad_out, _, _ = backward(z, w_out, u.shape, drive=drive)
    jump = -grad_counts / (K.theta * K.tau_mem)
    grad_x, grad_hid, grad_rec, ptr = backward(
        x, w_hid, z.shape, buf, w_rec, grad_z=grad_z, g_first=grad_first, jump=jump
    )  # fmt: skip
    return z, u, buf, ptr, grad_x, grad_hid, grad_rec, grad_out


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_loop_matches_reference(dtype):
    steps, batch, n_in, n, classes = 12, 2, 9, 37, 5
    x = (torch.rand(steps, batch, n_in, generator=_gen(50)) < 0.3).to(dtype=dtype, device=DEVICE)
    w_hid = _randn((n, n_in), dtype, seed=51, scale=1.5, shift=0.8)
    w_rec = _randn((n, n), dtype, seed=52, scale=0.3)
    w_out = _randn((classes, n), dtype, seed=53)
    grads = (_randn((steps, batch, classes), dtype, 54), _randn((batch, n), dtype, 55), _randn((batch, n), dtype, 56))
    kernels = (neuron_fwd_step_triton, neuron_bwd_step_triton, synapse_bwd_step_triton)
    refs = (neuron_fwd_step_ref, neuron_bwd_step_ref, synapse_bwd_step_ref)
    z, u, buf, ptr, *grad = _network(x, w_hid, w_rec, w_out, grads, kernels)
    z_ref, u_ref, buf_ref, ptr_ref, *grad_ref = _network(x, w_hid, w_rec, w_out, grads, refs)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=0)
    assert 0.05 < z.mean().item() < 0.6 and (buf.count == 0).any()  # spiking, several spikes, and silent neurons
    assert buf.count.max() > 2
    for a, b in zip((*buf, ptr), (*buf_ref, ptr_ref), strict=True):
        _close(a, b, TOL[dtype])
    assert (ptr == -1).all()  # the backward pass read every spike
    _close(u, u_ref, TOL[dtype])
    for a, b in zip(grad, grad_ref, strict=True):
        _close(a, b, LOOP_TOL[dtype] * max(1.0, b.abs().max().item()))


def test_dispatch_uses_reference_on_cpu():
    v = torch.zeros(2, 3)
    buf, buf_ref = empty_buffer(2, 3, 2, v), empty_buffer(2, 3, 2, v)
    h = torch.tensor([[2.0, 0.0, 5.0], [0.0, 3.0, 0.0]])
    for a, b in zip(neuron_fwd_step(h, v, v, buf, 0, K), neuron_fwd_step_ref(h, v, v, buf_ref, 0, K), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(buf.count, buf_ref.count)
    lv, li = neuron_bwd_step(h, h, 0, K, drive=h)
    assert torch.equal(lv, neuron_bwd_step_ref(h, h, 0, K, drive=h)[0])
    grad_w = torch.zeros(3, 4)
    idx = torch.tensor([0, 1])
    assert synapse_bwd_step(h, h, idx, idx, torch.ones(2), grad_w.T.T, grad_w, K).shape == (2,)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_dispatch_matches_reference(dtype):
    batch, n, n_in = 64, 1000, 700
    v, i = _randn((batch, n), dtype, seed=60, scale=0.4, shift=0.5), _randn((batch, n), dtype, seed=61)
    h = _randn((batch, n), dtype, seed=62, scale=2.0, shift=1.0)
    buf = _random_buffer(batch, n, 8, dtype, seed=63, max_count=10)
    buf_ref = _clone(buf)
    for a, b in zip(neuron_fwd_step(h, v, i, buf, 5, K), neuron_fwd_step_ref(h, v, i, buf_ref, 5, K), strict=True):
        _close(a, b, TOL[dtype])
    for a, b in zip(buf, buf_ref, strict=True):
        _close(a, b, TOL[dtype])
    lam_v, lam_i, n_step, buf, ptr, extra = _bwd_inputs((batch, n), dtype, seed=64)
    ptr_ref = ptr.clone()
    out = neuron_bwd_step(lam_v, lam_i, n_step, K, buf, ptr, **extra)
    for a, b in zip(out, neuron_bwd_step_ref(lam_v, lam_i, n_step, K, buf, ptr_ref, **extra), strict=True):
        _close(a, b, TOL[dtype])
    assert torch.equal(ptr, ptr_ref)
    b, j, value = _events(batch, n_in, 5000, dtype, seed=65, case="random")
    weight, grad_w = _randn((n, n_in), dtype, seed=66), torch.zeros(n, n_in, dtype=dtype, device=DEVICE)
    grad_w_ref = grad_w.clone()
    grad_t = synapse_bwd_step(lam_v, lam_i, b, j, value, weight, grad_w, K)
    _close(grad_t, synapse_bwd_step_ref(lam_v, lam_i, b, j, value, weight, grad_w_ref, K), 10 * TOL[dtype])
    _close(grad_w, grad_w_ref, 10 * TOL[dtype])
