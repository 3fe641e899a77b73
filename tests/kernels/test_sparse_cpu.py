"""sparse_cpu: the Numba launchers (``layer_backward_cpu``, ``select_cpu``) against the PyTorch references
(``layer_backward_ref``, ``select_ref``) of :mod:`spikegrad.kernels.sparse_grad`, on ragged sizes."""

import pytest
import torch

from spikegrad.kernels.lif_scan import scan_constants
from spikegrad.kernels.sparse_grad import (
    layer_backward_cpu,
    layer_backward_ref,
    row_events,
    select_cpu,
    select_ref,
)
from spikegrad.kernels.spike_linear import spike_rows
from spikegrad.model import LIFParams

pytest.importorskip("numba")

K = scan_constants(LIFParams(tau_mem=10.0, tau_syn=2.0, dt=1.0, reset="subtract"))
TOL = {torch.float64: 1e-12, torch.float32: 2e-5}
SIZES = [(13, 3, 7, 5), (31, 5, 37, 23)]  # T, B, N, N_in: odd, not multiples of a vector width


def _subset(n: int, fraction: float, gen) -> torch.Tensor:
    """A sorted random subset of range(n), as a flat index."""
    return (torch.rand(n, generator=gen) < fraction).nonzero().squeeze(1)


def _case(T, B, N, n_in, dtype, recurrent, active="random", seed=0):
    """(grad_z, index, sg, x events, weight, upstream, w_rec, spike events) of a random layer."""
    gen = torch.Generator().manual_seed(seed)
    grad_z = torch.randn(T, B, N, generator=gen, dtype=torch.float64)
    if active == "random":
        index = _subset(T * B * N, 0.3, gen)
    elif active == "ends":  # only at t = 0 and t = T − 1
        index = torch.cat([torch.arange(0, B * N, 3), torch.arange((T - 1) * B * N, T * B * N, 2)])
    else:
        index = torch.zeros(0, dtype=torch.int64)
    sg = torch.rand(len(index), generator=gen, dtype=torch.float64) + 0.1
    x = (torch.rand(T * B, n_in, generator=gen) < 0.2) * torch.rand(T * B, n_in, generator=gen, dtype=torch.float64)
    weight = torch.randn(N, n_in, generator=gen, dtype=torch.float64)
    upstream = _subset(T * B * n_in, 0.25, gen)
    w_rec = torch.randn(N, N, generator=gen, dtype=torch.float64) if recurrent else None
    z = (torch.rand(T * B, N, generator=gen) < 0.15).double()
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    spikes = row_events(spike_rows(z.to(dtype))) if recurrent else None
    return (
        cast(grad_z),
        index,
        cast(sg),
        row_events(spike_rows(x.to(dtype))),
        cast(weight),
        upstream,
        cast(w_rec),
        spikes,
    )


def _assert_close(got, expected, dtype):
    """Equal to rounding: within TOL of the reference's largest entry."""
    assert (got is None) == (expected is None)
    if expected is None:
        return
    assert got.layout == expected.layout and got.shape == expected.shape
    if got.is_sparse:  # the same sampled entries, then their values
        assert torch.equal(got.coalesce().indices(), expected.coalesce().indices())
        got, expected = got.coalesce().values(), expected.coalesce().values()
    scale = expected.abs().max().item() if expected.numel() else 1.0
    torch.testing.assert_close(got, expected, rtol=TOL[dtype], atol=TOL[dtype] * max(scale, 1e-300))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("active", ["random", "ends", "empty"])
def test_layer_backward_equals_reference(active, size, recurrent, dtype):
    grad_z, index, sg, x, weight, upstream, w_rec, spikes = _case(*size, dtype, recurrent, active)
    needs = (True, True, recurrent)
    got = layer_backward_cpu(grad_z, index, sg, x, weight, upstream, w_rec, spikes, K, needs)
    expected = layer_backward_ref(grad_z, index, sg, x, weight, upstream, w_rec, spikes, K, needs)
    for g, e in zip(got, expected, strict=True):
        _assert_close(g, e, dtype)
    computed = [g for g in got if g is not None]
    assert len(computed) == sum(needs)
    if active != "empty":
        assert all(e.to_dense().abs().max() > 0 for e in expected if e is not None)  # every gradient is exercised
    else:
        assert all(torch.count_nonzero(g.to_dense()) == 0 for g in computed)


@pytest.mark.parametrize("recurrent", [False, True])
def test_dense_input_gradient_and_partial_needs(recurrent):
    """upstream None: ∂L/∂x dense at every entry; the gradients not needed are None."""
    grad_z, index, sg, x, weight, _, w_rec, spikes = _case(*SIZES[1], torch.float64, recurrent)
    for needs in [(True, False, False), (False, True, False), (False, False, recurrent)]:
        got = layer_backward_cpu(grad_z, index, sg, x, weight, None, w_rec, spikes, K, needs)
        expected = layer_backward_ref(grad_z, index, sg, x, weight, None, w_rec, spikes, K, needs)
        for g, e, need in zip(got, expected, needs, strict=True):
            assert (g is not None) == need
            _assert_close(g, e, torch.float64)


def test_sparse_grad_z_equals_its_dense_form():
    """∂L/∂z given as a sparse COO tensor (as the next sparse layer hands it) on entries partly off A."""
    grad_z, index, sg, x, weight, upstream, _, _ = _case(*SIZES[1], torch.float64, False, seed=1)
    gen = torch.Generator().manual_seed(2)
    sparse_grad_z = (grad_z * (torch.rand(grad_z.shape, generator=gen) < 0.4)).to_sparse()
    needs = (True, True, False)
    got = layer_backward_cpu(sparse_grad_z, index, sg, x, weight, upstream, None, None, K, needs)
    expected = layer_backward_ref(sparse_grad_z.to_dense(), index, sg, x, weight, upstream, None, None, K, needs)
    for g, e in zip(got[:2], expected[:2], strict=True):
        _assert_close(g, e, torch.float64)


def test_silent_stretch_flushes_subnormals_only():
    """One active entry at the end of a long trial: δ decays through the subnormal range, which the kernel flushes
    to zero; the gradients still equal the reference's to rounding."""
    T, B, N, n_in = 900, 1, 4, 3
    grad_z, _, _, _, weight, _, _, _ = _case(T, B, N, n_in, torch.float32, False)
    index = torch.tensor([(T - 1) * N])
    x = row_events(spike_rows(torch.ones(T * B, n_in)))
    got = layer_backward_cpu(grad_z, index, torch.ones(1), x, weight, None, None, None, K, (True, True, False))
    expected = layer_backward_ref(grad_z, index, torch.ones(1), x, weight, None, None, None, K, (True, True, False))
    smallest = expected[0].abs()[expected[0] != 0].min()
    assert 0 < smallest < torch.finfo(torch.float32).tiny  # the reference goes subnormal
    for g, e in zip(got[:2], expected[:2], strict=True):
        _assert_close(g, e, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("band", [0.2, float("inf"), 1e-9])
@pytest.mark.parametrize("spikes", [False, True])
def test_select_equals_reference_exactly(spikes, band, dtype):
    u = torch.randn(301, 37, generator=torch.Generator().manual_seed(3), dtype=dtype) * 0.4 + 0.9
    got, expected = select_cpu(u, 1.0, band, spikes), select_ref(u, 1.0, band, spikes)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    if spikes:
        assert all(torch.equal(g, e) for g, e in zip(got[2][:3], expected[2][:3], strict=True))
        assert 0 < len(got[2].col) < u.numel()
    else:
        assert got[2] is None and expected[2] is None
    expected_count = {0.2: len(got[0]), float("inf"): u.numel(), 1e-9: 0}[band]
    assert len(got[0]) == expected_count and (band != 0.2 or 0 < expected_count < u.numel())


def test_bad_arguments_raise_clear_errors():
    grad_z, index, sg, x, weight, upstream, _, _ = _case(*SIZES[0], torch.float64, False)
    needs = (True, True, False)
    with pytest.raises(ValueError, match="dtype"):
        layer_backward_cpu(grad_z, index, sg.float(), x, weight, upstream, None, None, K, needs)
    with pytest.raises(ValueError, match="weight must be"):
        layer_backward_cpu(grad_z, index, sg, x, weight[:-1], upstream, None, None, K, needs)
    with pytest.raises(ValueError, match="one σ'"):
        layer_backward_cpu(grad_z, index, sg[:-1], x, weight, upstream, None, None, K, needs)
    with pytest.raises(ValueError, match="both w_rec and its spikes"):
        layer_backward_cpu(grad_z, index, sg, x, weight, upstream, weight[:, :7], None, K, needs)
    with pytest.raises(ValueError, match="2-D"):
        select_cpu(grad_z, 1.0, 0.2, False)
