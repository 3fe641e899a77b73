"""The peer libraries' Linear + LIF layers (spikegrad.bench.peers) simulate the same neuron as spikegrad's: equal
spikes, and equal weight gradients against the spikegrad layer with the library's surrogate and reset gradient;
and the layer benchmark runs every library side by side."""

import json

import pytest
import torch

from spikegrad.bench import lif_layer, peers

ALPHA = 0.9


def _inputs(dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 3, 20, generator=gen) < 0.3).to(dtype)
    w = (0.5 * torch.randn(7, 20, generator=gen) + 0.1).to(dtype)
    return x, w


@pytest.mark.parametrize("library", sorted(set(peers.LIBRARIES) - {"spikegrad"}))
def test_peer_layer_equals_spikegrad_in_spikes_and_gradients(library):
    x, w = _inputs()
    peer = peers.build(library, w, ALPHA)
    reference = peers.spikegrad_layer(w, ALPHA, 1.0, peer.detach_reset, peer.surrogate)
    z, z_ref = peer.run(x), reference.run(x)
    assert torch.equal(z.double(), z_ref)
    assert 0.05 < z_ref.mean() < 0.5  # spikes and resets are exercised
    g = torch.randn(z_ref.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grad = torch.autograd.grad(z, peer.weight, g.to(z.dtype))[0].double() * peer.weight_scale
    grad_ref = torch.autograd.grad(z_ref, reference.weight, g)[0]
    # snntorch and sinabs emit float32 spikes, so their gradients carry float32 rounding
    torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-5 * grad_ref.abs().max().item())


def test_reset_gradient_matters_so_the_comparison_can_fail():
    x, w = _inputs()
    g = torch.ones(60, 3, 7, dtype=torch.float64)
    detached, attached = (peers.spikegrad_layer(w, ALPHA, 1.0, detach) for detach in (True, False))
    grads = [torch.autograd.grad(layer.run(x), layer.weight, g)[0] for layer in (detached, attached)]
    assert not torch.allclose(*grads, rtol=1e-3)


def test_build_rejects_bad_arguments():
    w = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="unknown library"):
        peers.build("brian", w, ALPHA)
    with pytest.raises(ValueError, match="alpha"):
        peers.build("spikegrad", w, 1.5)


def test_layer_benchmark_runs_every_library_side_by_side(tmp_path):
    out = tmp_path / "layer.json"
    lif_layer.main(["--out", str(out), "--T", "20", "--B", "2", "--n", "16", "--repeats", "1", "--device", "cpu"])
    result = json.loads(out.read_text())
    entries, fastest = result["by_size"]["16"], result["fastest"]["16"]
    assert set(entries) == set(peers.LIBRARIES)
    fractions = {lib: e["spike_fraction"] for lib, e in entries.items()}
    assert len(set(fractions.values())) == 1 and 0 < fractions["spikegrad"] < 1  # the same neuron everywhere
    for entry in entries.values():
        assert entry["forward_ms"] > 0 and entry["forward_backward_ms"] > 0 and entry["forward_backward_peak_bytes"] > 0
    assert fastest["forward_ms"] in entries and fastest["forward_backward_ms"] in entries


def test_layer_benchmark_records_a_missing_library(monkeypatch):
    real = peers.importlib.util.find_spec
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None if name == "sinabs" else real(name))
    result = lif_layer.bench_lif_layer(10, 1, [8], ["spikegrad", "sinabs"], "cpu", 1, progress=False)
    assert "not installed" in result["by_size"]["8"]["sinabs"]["unavailable"]
    assert result["fastest"]["8"]["forward_ms"] == "spikegrad"


def test_layer_benchmark_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        lif_layer.main(["--out", "unused.json", "--n", "0"])
    assert exit_.value.code == 2 and "sizes" in capsys.readouterr().err


def test_layer_benchmark_records_a_failing_library_and_measures_the_others(monkeypatch):
    def broken(weight, alpha, threshold):
        layer = peers.spikegrad_layer(weight, alpha, threshold)

        def run(x):
            raise RuntimeError("no kernel for this machine")

        return peers.PeerLayer("broken", run, layer.weight, layer.surrogate, True, "0")

    monkeypatch.setitem(peers.LIBRARIES, "broken", broken)
    result = lif_layer.bench_lif_layer(10, 1, [8], ["spikegrad", "broken"], "cpu", 2, progress=False)
    assert result["by_size"]["8"]["broken"] == {"error": "RuntimeError: no kernel for this machine"}
    assert result["by_size"]["8"]["spikegrad"]["forward_ms"] > 0
