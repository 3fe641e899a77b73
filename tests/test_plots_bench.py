"""Performance-suite figures and summary from benchmark JSON shaped like the benchmarks' output, and the
roofline arithmetic."""

import pytest
import torch

from spikegrad.bench import figures as plots_bench
from spikegrad.bench import roofline

VERSIONS = {"torch": "2.13", "numba": "0.68", "triton": None, "python": "3.11", "platform": "linux"}
MACHINE = {"device_name": "cpu", "threads": 2, "measured_at": "2026-12-02T00:00:00+00:00", "repeats": 3,
           "versions": VERSIONS}  # fmt: skip


def _layer_entry(ms):
    return {"forward_ms": ms, "forward_backward_ms": 3 * ms, "forward_backward_peak_bytes": 1e7, "spike_fraction": 0.02}


LAYER = {**MACHINE, "T": 500, "B": 16,
         "by_size": {"512": {"spikegrad": _layer_entry(10.0), "snntorch": _layer_entry(20.0),
                             "sinabs": {"unavailable": "sinabs is not installed"}},
                     "1024": {"spikegrad": _layer_entry(30.0), "snntorch": _layer_entry(25.0),
                              "sinabs": {"unavailable": "sinabs is not installed"}}},
         "fastest": {"512": {"forward_ms": "spikegrad", "forward_backward_ms": "spikegrad"},
                     "1024": {"forward_ms": "snntorch", "forward_backward_ms": "snntorch"}}}  # fmt: skip
MEMORY = {"saved_bytes": 2e6, "peak_bytes": 5e6, "hidden_spikes_per_neuron": 10.0}
STEP = {**MACHINE, "T": 1000, "B": 32, "hidden": 256, "dt": 1.0,
        "bptt": {"step_ms": 100.0, **MEMORY}, "eventprop": {"step_ms": 50.0, **MEMORY}, "eventprop_speedup": 2.0,
        "eventprop_peak_bytes_ratio": 1.0,
        "by_T": [{"T": t, "input_spikes": 100, "bptt": MEMORY, "eventprop": MEMORY} for t in (250, 500)]}  # fmt: skip
REFERENCE = {"device": "cpu", "ms": 4.0, "input_events_per_s": 1e4, "output_spikes_per_s": 5e3}
NUMBA = {"device": "cpu", "ms": 0.2, "input_events_per_s": 2e5, "output_spikes_per_s": 1e5}
EVENT_SIM = {**MACHINE, "B": 2, "Q": 20, "N": 16, "reference": REFERENCE, "numba": NUMBA}


def test_figures_draw_every_measured_library_and_engine():
    fig = plots_bench.lif_layer(LAYER)
    assert [line.get_label() for line in fig.axes[0].lines] == ["spikegrad", "snntorch"]  # sinabs did not run
    assert len(plots_bench.training_step(STEP).axes) == 4  # three panels and the spike-count twin axis


def test_summary_marks_the_fastest_and_names_missing_libraries():
    text = plots_bench.summary(LAYER, STEP, EVENT_SIM)
    assert MACHINE["measured_at"] in text
    assert "| 512 | forward | **10.0** | 20.0 |" in text and "| 1024 | forward | 30.0 | **25.0** |" in text
    assert "- sinabs: not measured (sinabs is not installed)" in text
    assert "| EventProp | 50 | 2.00× |" in text
    assert "| numba | cpu | 0.2 | 2e+05 | 1e+05 |" in text and "| reference | cpu | 4.0 | 1e+04 | 5e+03 |" in text


def test_lif_layer_figure_needs_a_measurement():
    empty = {**LAYER, "by_size": {"512": {"sinabs": {"error": "RuntimeError: boom"}}}}
    with pytest.raises(ValueError, match="no measured library"):
        plots_bench.lif_layer(empty)


def test_roofline_floor_is_the_larger_of_the_two_bounds():
    peak = {"bandwidth": 1e9, "flops": 1e10}
    out = roofline.fraction(2e9, 1e10, 4.0, peak)  # 2 s of bytes, 1 s of flops, measured 4 s
    assert out == {"bytes_floor_ms": 2000.0, "flops_floor_ms": 1000.0, "fraction_of_floor": 0.5}
    with pytest.raises(ValueError, match="positive"):
        roofline.fraction(1, 1, 0.0, peak)


def test_roofline_uses_datasheet_peaks_for_known_gpus_and_measures_others(monkeypatch):
    monkeypatch.setattr(roofline.torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    assert roofline.peaks(torch.device("cuda"), torch.float64)["flops"] == 34e12
    monkeypatch.setattr(roofline, "measured_peaks", lambda device, dtype: (2e10, 1e11))
    assert roofline.peaks(torch.device("cpu"), torch.float32) == {
        "bandwidth": 2e10, "flops": 1e11, "source": "measured (copy, matmul)"}  # fmt: skip
