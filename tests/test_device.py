"""Devices are checked before any work: an unusable one is refused in one line that says why."""

import pytest
import torch

from spikegrad.bench import event_sim, forwardprop, lif_layer, lif_scan, sparse, training_step
from spikegrad.device import available_device


def test_cpu_is_always_available():
    assert available_device("cpu") == torch.device("cpu")
    assert available_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(
    "cuda_build, visible, count, name, message",
    [(None, False, 0, "cuda", "device 'cuda' is not available: this torch ("),
     ("12.8", False, 0, "cuda", "device 'cuda' is not available: no CUDA GPU is visible; use device 'cpu'"),
     ("12.8", True, 1, "cuda:1", "device 'cuda:1' is not available: this machine has 1 CUDA GPU(s); use device 'cpu'")],
    ids=["cpu_build", "no_gpu", "index_out_of_range"],
)  # fmt: skip
def test_unusable_cuda_is_refused_with_the_reason(monkeypatch, cuda_build, visible, count, name, message):
    monkeypatch.setattr(torch.version, "cuda", cuda_build)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    with pytest.raises(ValueError) as err:
        available_device(name)
    assert str(err.value).startswith(message)


def test_visible_gpu_is_accepted(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert available_device("cuda:1") == torch.device("cuda", 1)
    assert available_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize(
    "name, message",
    [("gpu0", "device 'gpu0' is not a torch device; use 'cpu', 'cuda' or 'cuda:N'"),
     ("meta", "device 'meta' is not supported; use 'cpu' or 'cuda'")],
)  # fmt: skip
def test_other_names_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        available_device(name)


@pytest.mark.parametrize("bench", [event_sim, forwardprop, lif_layer, lif_scan, sparse, training_step],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])  # fmt: skip
def test_benchmarks_refuse_an_unusable_device_before_any_work(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--out", str(out), "--device", "cuda:99"])
    assert exit_.value.code == 2 and not out.exists()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument --device: device 'cuda:99' is not available: " in last, last
