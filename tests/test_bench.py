"""The benchmark scripts run end to end on tiny sizes and write complete JSON (timings are not asserted)."""

import json

from spikegrad.bench import eventprop, lif_scan


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
