"""The benchmark scripts run end to end on tiny sizes and write complete JSON (timings are not asserted), and the
shared timing helper takes the median of the timed calls after the warm-up."""

import json

import pytest
import torch

from spikegrad.bench import event_sim, eventprop, forwardprop, lif_scan, timing


def test_eventprop_step_benchmark_writes_json(tmp_path):
    out = tmp_path / "step.json"
    eventprop.main(["--out", str(out), "--T", "60", "--B", "2", "--n-in", "30", "--hidden", "16", "--rate", "80",
                    "--repeats", "1", "--device", "cpu"])  # fmt: skip
    result = json.loads(out.read_text())
    for engine in ("eventprop", "bptt"):
        assert result[engine]["step_ms"] > 0 and result[engine]["saved_bytes"] > 0
    assert result["eventprop"]["hidden_spikes_per_neuron"] == result["bptt"]["hidden_spikes_per_neuron"]
    assert result["saved_memory_ratio"] > 1  # EventProp keeps events, BPTT the voltage traces


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
    assert "kernel" not in result  # the kernel is timed on CUDA only


def test_median_seconds_times_each_call_after_the_warmup(monkeypatch):
    calls = []
    clock = iter([0.0, 1.0, 1.0, 3.0, 3.0, 6.0])  # start/stop pairs: the timed calls take 1, 2 and 3 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    assert timing.median_seconds(lambda: calls.append(1), torch.device("cpu"), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        timing.median_seconds(lambda: None, torch.device("cpu"), repeats=0, warmup=1)
