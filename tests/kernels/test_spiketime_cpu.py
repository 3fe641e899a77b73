"""The Numba CPU kernel of the spike-time backward pass against the PyTorch reference (the composition of
``total_errors`` and ``weight_and_input_grads`` in ``spikegrad.engines.spiketime``): ∂L/∂t and ∂L/∂W on ragged
layers (odd B, N, Q, K; silent samples and neurons, inputs after t_max, truncation, streams spanning several
anchor blocks, one and several chunks of samples, both τ ratios), float64 to 1e-12 and float32 to 1e-5 of the
largest gradient; and the dispatch used by the autograd Function."""

import math

import pytest
import torch

from spikegrad.engines import spiketime
from spikegrad.engines.events import EventOptions, simulate
from spikegrad.kernels import spiketime_cpu
from spikegrad.model import LIFParams

TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _layer(ratio, dtype, K, B=5, N=7, n_in=9, seed=0):
    """A simulated layer: input spikes in [0, 60) ms (past t_max = 50 ms, over several anchor blocks of
    SPAN·τ_s = 20 ms), sample 1 silent, sample 3 with few inputs; and ∂L/∂t with garbage in the padding."""
    lif = LIFParams(tau_mem=10.0, tau_syn=10.0 / ratio, threshold=1.0)
    gen = torch.Generator().manual_seed(seed)
    tin = (60 * torch.rand(B, n_in, 3, generator=gen, dtype=torch.float64)).sort(-1).values
    tin[:, :, 2] = math.inf
    tin[1] = math.inf
    tin[3, 2:] = math.inf
    weight = (torch.randn(N, n_in, generator=gen, dtype=torch.float64) + 0.8) * (1.0 if ratio == 2 else 0.6)
    tin, weight = tin.to(dtype), weight.to(dtype)
    times, channels, out, current = simulate(tin, weight, lif, EventOptions(K, t_max=50.0, truncate=True))
    grad = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(dtype)
    return (grad, out, current, times, channels, weight, lif)


def _assert_close(got, expected, dtype):
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
        torch.testing.assert_close(g, e, rtol=0, atol=TOL[dtype] * (e.abs().max().item() if e.numel() else 0.0))


@pytest.mark.parametrize("K", [1, 4])
@pytest.mark.parametrize("ratio", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_matches_reference(K, ratio, dtype):
    args = _layer(ratio, dtype, K, seed=K + ratio)
    expected = spiketime.layer_backward_ref(*args)
    _assert_close(spiketime.layer_backward_numba(*args), expected, dtype)
    count = torch.isfinite(args[1]).sum(-1)
    assert (count == K).any() and (count < K).any() and not count[1].any()  # truncated, partial, silent
    assert (args[3] > 50).any() and (expected[0] != 0).any() and (expected[1] != 0).any()


@pytest.mark.parametrize("chunks", [2, 3, 5])
def test_chunks_of_samples_sum_to_the_same_gradient(chunks, monkeypatch):
    args = _layer(2, torch.float64, 4, seed=1)
    monkeypatch.setattr(spiketime_cpu, "chunks", lambda batch: chunks)
    _assert_close(spiketime.layer_backward_numba(*args), spiketime.layer_backward_ref(*args), torch.float64)


def test_no_gradient_no_inputs_no_spikes():
    grad, out, current, times, channels, weight, lif = _layer(2, torch.float64, 3)
    zero = spiketime.layer_backward_numba(None, out, current, times, channels, weight, lif)
    assert not zero[0].any() and not zero[1].any()
    cases = [
        (grad, out, current, times[:, :0], channels[:, :0], weight),  # Q = 0
        (grad, torch.full_like(out, math.inf), current, times, channels, weight),  # no output spike
        (grad[:0], out[:0], current[:0], times[:0], channels[:0], weight),  # B = 0
    ]
    for case in cases:
        expected = spiketime.layer_backward_ref(*case, lif)
        _assert_close(spiketime.layer_backward_numba(*case, lif), expected, torch.float64)


def test_layer_backward_uses_the_cpu_kernel(monkeypatch):
    calls = []
    kernel = spiketime_cpu.layer_backward
    monkeypatch.setattr(spiketime_cpu, "layer_backward", lambda *a: calls.append(1) or kernel(*a))
    grad, out, current, times, channels, weight, lif = _layer(2, torch.float64, 3)
    tin = torch.where(torch.isfinite(out), out, math.inf)  # the layer's output drives a second layer
    w = weight[:, :7].clone().requires_grad_()
    spiketime.layer(tin, w, lif, EventOptions(3, t_max=50.0, truncate=True)).nan_to_num(posinf=0).sum().backward()
    assert calls == [1] and w.grad.abs().sum() > 0
