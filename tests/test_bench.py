"""The benchmark scripts run end to end on tiny sizes and write complete JSON (timings are not asserted), and the
shared timing helper takes the median of the timed calls after the warm-up."""

import json

import pytest
import torch

from spikegrad.bench import event_sim, forwardprop, lif_scan, sparse, timing, training_step


def test_training_step_benchmark_writes_json(tmp_path):
    out = tmp_path / "step.json"
    training_step.main(["--out", str(out), "--T", "60", "--B", "2", "--n-in", "30", "--hidden", "16", "--rate", "80",
                        "--memory-T", "30", "120", "--repeats", "1", "--device", "cpu"])  # fmt: skip
    result = json.loads(out.read_text())
    for engine in ("bptt", "eventprop", "sparse"):
        assert result[engine]["step_ms"] > 0 and result[engine]["saved_bytes"] > 0 and result[engine]["peak_bytes"] > 0
    assert result["eventprop"]["hidden_spikes_per_neuron"] == result["bptt"]["hidden_spikes_per_neuron"] > 0
    assert result["eventprop_saved_bytes_ratio"] > 1  # EventProp keeps events, BPTT the voltage traces
    short, long = result["by_T"]
    assert long["input_spikes"] == short["input_spikes"] > 0  # the same input spikes, then silence
    assert long["bptt"]["saved_bytes"] > 2 * short["bptt"]["saved_bytes"]  # the traces grow with T
    peaks = [entry["eventprop"]["peak_bytes"] for entry in result["by_T"]]
    assert result["eventprop_peak_over_T"] == pytest.approx(max(peaks) / min(peaks))
    assert result["measured_at"] and result["versions"]["torch"]


def test_training_step_benchmark_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        training_step.main(["--out", "unused.json", "--repeats", "0"])
    assert exit_.value.code == 2 and "repeats" in capsys.readouterr().err


def test_lif_scan_benchmark_writes_json(tmp_path):
    out = tmp_path / "scan.json"
    lif_scan.main(["--out", str(out), "--T", "10", "--B", "2", "--N", "8", "--repeats", "1", "--device", "cpu"])
    result = json.loads(out.read_text())
    assert result["reference"]["forward_ms"] > 0 and result["reference"]["backward_gbps"] > 0


def test_forwardprop_benchmark_writes_json(tmp_path):
    out = tmp_path / "fp.json"
    forwardprop.main(["--out", str(out), "--sizes", "4", "--repeats", "1", "--device", "cpu", "--dtype", "float64"])
    (entry,) = json.loads(out.read_text())["sizes"]
    assert entry["P"] == 4 * 50 + 10 * 4 and entry["spikes"] > 0
    assert entry["fp_full_s"] > 0 and entry["reverse_s"] > 0 and entry["fp_jvp_s"] > 0 and entry["fp_over_reverse"] > 0
    assert entry["grad_rel_diff_fp_vs_reverse"] < 1e-10


def test_event_sim_benchmark_writes_json(tmp_path):
    out = tmp_path / "event_sim.json"
    event_sim.main(["--out", str(out), "--B", "2", "--Q", "6", "--N", "5", "--n-in", "10", "--K", "3",
                    "--repeats", "1", "--ref-repeats", "1", "--device", "cpu"])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["input_events"] == 12
    assert result["reference"]["ms"] > 0 and result["reference"]["input_events_per_s"] > 0
    assert result["numba"]["ms"] > 0 and result["numba_speedup"] > 0  # the CPU kernel beside the reference
    agreement = result["numba_vs_reference"]
    assert agreement["spikes_equal"] and agreement["overflow_equal"] and agreement["spike_count_mismatch_fraction"] == 0
    assert agreement["max_abs_time_diff_ms"] < 1e-3  # float32 rounding
    assert "kernel" not in result  # the Triton kernel is timed on CUDA only


def test_median_seconds_times_each_call_after_the_warmup(monkeypatch):
    calls = []
    clock = iter([0.0, 1.0, 1.0, 3.0, 3.0, 6.0])  # start/stop pairs: the timed calls take 1, 2 and 3 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    assert timing.median_seconds(lambda: calls.append(1), torch.device("cpu"), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        timing.median_seconds(lambda: None, torch.device("cpu"), repeats=0, warmup=1)


def test_sparse_benchmark_writes_json(tmp_path):
    out = tmp_path / "sparse.json"
    sparse.main(["--out", str(out), "--T", "30", "--B", "2", "--n-in", "40", "--rate", "100", "--sizes", "16", "24",
                 "--bands", "0.2", "inf", "--band-hidden", "16", "--repeats", "1", "--device", "cpu"])  # fmt: skip
    result = json.loads(out.read_text())
    assert [c["hidden"] for c in result["by_hidden"]] == [16, 24] and len(result["by_band"]) == 1
    for case in result["by_hidden"] + result["by_band"]:
        for engine in ("bptt", "sparse"):
            entry = case[engine]
            assert entry["layer2_backward_ms"] > 0 and entry["step_ms"] > 0 and entry["layer2_saved_bytes"] > 0
            assert entry["layer2_backward_peak_bytes"] > 0
        assert case["bptt"]["hidden_rate_hz"] == case["sparse"]["hidden_rate_hz"]  # same network, same spikes
        assert case["backward_speedup"] > 0 and case["memory_saved"] < 1
    assert result["by_band"][0]["sparse"]["active_fraction"] == [1.0, 1.0]  # B_th = ∞: every entry active
    assert 0 <= result["by_hidden"][0]["sparse"]["active_fraction"][0] < 1


def test_peak_bytes_counts_what_a_call_allocates():
    def allocate():
        a = torch.zeros(1000, 250)  # 1 MB, freed before the 2-MB tensor: peak 3 MB (b and c), not 4 MB
        b = torch.zeros(1000, 250)
        del a
        c = torch.zeros(2000, 250)
        return b.sum() + c.sum()

    assert timing.peak_bytes(allocate, torch.device("cpu")) == pytest.approx(3_000_000, rel=0.01)


def test_peak_bytes_of_a_backward_pass_counts_the_gradients_alive_together():
    w = torch.randn(40, 50, requires_grad=True)
    x = torch.randn(2000, 50, requires_grad=True)
    y = (x @ w.T).tanh()
    grad = torch.randn_like(y)
    peak = timing.peak_bytes(lambda: torch.autograd.grad(y, (x, w), grad, retain_graph=True), torch.device("cpu"))
    # ∂L/∂(xWᵀ) [2000, 40] is alive while ∂L/∂x [2000, 50] and ∂L/∂W [40, 50] are computed
    assert peak == pytest.approx(4 * (2000 * 40 + 2000 * 50 + 40 * 50), rel=0.01)
