import math
import subprocess
import sys
import time

import pandas as pd
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


def test_claiming_a_run_dir_removes_its_old_result_and_dead_writers_leftovers(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / ".checkpoint.safetensors.x1.tmp").write_bytes(b"half")
    (tmp_path / "history.csv").write_text("epoch\n1\n")
    with results.claim_run_dir(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "history.csv"]


def test_a_second_claim_waits_for_the_first_process(tmp_path, capfd):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from spikegrad import results\n"
         "with results.claim_run_dir(sys.argv[1]):\n    print('held', flush=True); time.sleep(1.5)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    start = time.perf_counter()
    with results.claim_run_dir(tmp_path):
        waited = time.perf_counter() - start  # until the holder left its claim
    holder.wait()
    assert waited > 1.0
    assert f"waiting for process {holder.pid} to finish its run in {tmp_path}" in capfd.readouterr().err


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


def test_summarise_gives_mean_sd_and_seed_count_per_group():
    runs = pd.DataFrame(
        {
            "loss": ["sum", "sum", "sum", "max"],
            "recurrent": ["False", "False", "False", "True"],
            "seed": [0, 1, 2, 0],
            "acc": [0.5, 0.6, 0.7, 0.9],
            "test": [0.4, 0.4, 0.4, 0.8],
        }
    )
    summary = results.summarise(runs, by=["loss", "recurrent"], columns=["acc", "test"])
    assert list(summary.columns) == ["loss", "recurrent", "acc_mean", "acc_sd", "test_mean", "test_sd", "seeds"]
    assert summary["loss"].tolist() == ["max", "sum"] and summary["seeds"].tolist() == [1, 3]
    assert summary["acc_mean"].tolist() == pytest.approx([0.9, 0.6]) and math.isnan(summary["acc_sd"].iloc[0])
    assert summary["acc_sd"].iloc[1] == pytest.approx(0.1) and summary["test_sd"].iloc[1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="several runs share"):
        repeated = pd.concat([runs, runs.iloc[[0]].assign(acc=0.1)])  # e.g. a second lr of (sum, False, seed 0)
        results.summarise(repeated, by=["loss", "recurrent"], columns=["acc"])
