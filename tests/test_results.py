import math

import pytest
import torch

from spikegrad import results


def test_json_round_trip_and_refusal_of_non_finite_numbers(tmp_path):
    path = results.write_json(tmp_path / "a" / "m.json", {"acc": 0.5, "hist": [1, 2]})
    assert results.read_json(path) == {"acc": 0.5, "hist": [1, 2]}
    with pytest.raises(ValueError, match="non-finite"):
        results.write_json(tmp_path / "bad.json", {"loss": math.nan})
    assert not (tmp_path / "bad.json").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_tensors_round_trip_with_metadata(tmp_path):
    tensors = {"w": torch.randn(3, 2), "step": torch.tensor(4.0)}
    results.save_tensors(tmp_path / "t.safetensors", tensors, {"epoch": 3, "best": {"acc": 0.9}})
    loaded, meta = results.load_tensors(tmp_path / "t.safetensors")
    assert torch.equal(loaded["w"], tensors["w"]) and meta == {"epoch": 3, "best": {"acc": 0.9}}


def test_load_runs_reads_parameters_from_paths(tmp_path):
    for lr, acc in (("0.01", 0.8), ("0.001", 0.6)):
        results.write_json(tmp_path / "dataset~digits" / f"lr~{lr}" / "seed~0" / "metrics.json", {"acc": acc})
    (tmp_path / "dataset~digits" / "lr~0.1" / "seed~0").mkdir(parents=True)  # unfinished: no metrics.json
    runs = results.load_runs(tmp_path).sort_values("lr")
    assert runs["lr"].tolist() == [0.001, 0.01]
    assert runs["acc"].tolist() == [0.6, 0.8]
    assert set(runs["dataset"]) == {"digits"} and runs["seed"].tolist() == [0, 0]
    with pytest.raises(FileNotFoundError, match="no run has finished"):
        results.load_runs(tmp_path / "dataset~digits" / "lr~0.1")
