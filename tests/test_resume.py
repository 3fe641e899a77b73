"""Killed with SIGKILL, resumed: a training process killed mid-epoch or mid-write, and a whole sweep killed with
snakemake, finish on the re-run with the same metrics as an uninterrupted run, and re-run only what was
incomplete. No run directory ever holds a metrics.json that is not a finished run's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tests.test_workflow import copy_workflow

from spikegrad import results

# One small training run in a fresh process; argv: out_dir, where to SIGKILL itself (none, batch, write).
TRAIN_RUN = """
import os, signal, sys
import torch
import spikegrad.train as train
from spikegrad import results
from spikegrad.data import load
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN

out_dir, kill_at = sys.argv[1], sys.argv[2]
calls = {"step": 0, "write": 0}
real_step, real_save = torch.optim.Adam.step, results.save_file

def step(self, *args, **kwargs):  # 5 batches per epoch: the 7th step is epoch 2, batch 2
    calls["step"] += 1
    if kill_at == "batch" and calls["step"] == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(self, *args, **kwargs)

def save_file(tensors, path, metadata=None):  # the 2nd checkpoint write dies half-way through the file
    calls["write"] += 1
    if kill_at == "write" and calls["write"] == 2:
        real_save(tensors, path, metadata=metadata)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(tensors, path, metadata=metadata)

torch.optim.Adam.step, results.save_file = step, save_file
splits = [load("yinyang", s).subset(range(n)) for s, n in (("train", 150), ("validation", 70), ("test", 70))]
spec = dense_stack(5, (20,), 3, neuron=LIFParams(dt=1.0), hidden_init=WeightInit(5.0, 2.5))
model = SNN(spec, seed=1)
cfg = train.TrainConfig(epochs=3, batch_size=32, lr=0.01, loss="max", schedule="exponential", lr_decay=0.9)
train.fit(model, *splits, cfg, out_dir, progress=False)
"""
TIMINGS = {"train_seconds", "seconds_per_epoch", "seconds"}


def train_run(out_dir: Path, kill_at: str = "none") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", TRAIN_RUN, str(out_dir), kill_at]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def assert_same_run(run_dir: Path, reference_dir: Path) -> None:
    """Equal metrics.json and history.csv, apart from wall-clock times."""
    metrics, reference = (results.read_json(d / "metrics.json") for d in (run_dir, reference_dir))
    assert {k: v for k, v in metrics.items() if k not in TIMINGS} == {
        k: v for k, v in reference.items() if k not in TIMINGS
    }
    history, expected = (pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (run_dir, reference_dir))
    pd.testing.assert_frame_equal(history, expected)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    run = train_run(out)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.mark.parametrize("kill_at", ["batch", "write"])
def test_training_killed_mid_epoch_or_mid_write_resumes_to_the_same_metrics(tmp_path, uninterrupted, kill_at):
    killed = train_run(tmp_path, kill_at)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "metrics.json").exists()
    _, progress = results.load_tensors(tmp_path / "checkpoint.safetensors")  # the last whole checkpoint
    assert [row["epoch"] for row in progress["history"]] == [1]
    assert len(list(tmp_path.glob(".*.tmp"))) == (kill_at == "write")  # the dead writer's half file
    resumed = train_run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(tmp_path, uninterrupted)
    assert list(tmp_path.glob(".*.tmp")) == []


# -- the workflow: two training runs of the smoke sweep, killed twice on the way -----------------------------------

TARGET = "results/smoke/tables/train_summary.csv"
RUNS = ("dataset~yinyang/lr~0.01/seed~0", "dataset~yinyang/lr~0.03/seed~0")


def sweep_workdir(path: Path) -> Path:
    """A copy of the workflow whose smoke sweep is the two Yin-Yang runs, with 4 epochs each."""
    path.mkdir()
    workdir = copy_workflow(path)
    (workdir / "config/sweeps/train_smoke.tsv").write_text("dataset\tlr\tseed\nyinyang\t0.01\t0\nyinyang\t0.03\t0\n")
    config = workdir / "config/config.yaml"
    config.write_text(config.read_text().replace("    epochs: 2\n", "    epochs: 4\n", 1))
    return workdir


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "1",
        "--show-failed-logs",
        TARGET,
        "--config",
        "scale=smoke",
    ]
    command += args
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip


def kernels_in(workdir: Path) -> list[int]:
    """Process ids of the notebook kernels running in ``workdir`` (Jupyter starts each in its own session)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"ipykernel" in cmdline and (proc / "cwd").resolve() == workdir.resolve():
                pids.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return pids


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def run_dir(workdir: Path, run: str) -> Path:
    return workdir / "results/smoke/train" / run


def checkpointed_since(workdir: Path, start: float) -> list[str]:
    """Runs whose checkpoint was written after ``start`` and which have no metrics.json yet: mid-training."""
    found = []
    for run in RUNS:
        ckpt = run_dir(workdir, run) / "checkpoint.safetensors"
        if ckpt.exists() and ckpt.stat().st_mtime > start and not (run_dir(workdir, run) / "metrics.json").exists():
            found.append(run)
    return found


def assert_every_metrics_file_is_a_finished_run(workdir: Path) -> None:
    for path in (workdir / "results/smoke/train").rglob("metrics.json"):
        metrics = json.loads(path.read_text())
        assert 0.0 <= metrics["test_accuracy"] <= 1.0 and len(pd.read_csv(path.parent / "history.csv")) == 4


def test_killed_sweep_finishes_on_the_rerun_with_the_uninterrupted_metrics(tmp_path):
    reference = sweep_workdir(tmp_path / "uninterrupted")
    straight = start_snakemake(reference)  # alongside: each training run is single-threaded, hence identical
    workdir = sweep_workdir(tmp_path / "killed")

    # 1. SIGKILL of the training process (the notebook's kernel) after its first epoch: the job fails
    start = time.time()
    first = start_snakemake(workdir)
    wait_for(lambda: checkpointed_since(workdir, start) and kernels_in(workdir), 120, "a first checkpoint")
    for pid in kernels_in(workdir):
        os.kill(pid, signal.SIGKILL)
    output = first.communicate(timeout=120)[0]
    assert first.returncode != 0 and "the kernel died" in output, output[-3000:]
    assert_every_metrics_file_is_a_finished_run(workdir)

    # 2. SIGKILL of snakemake and its jobs while the second run trains
    start = time.time()
    second = start_snakemake(workdir)
    wait_for(lambda: checkpointed_since(workdir, start) and len(list(workdir.rglob("metrics.json"))) == 1, 120,
             "one finished run and one training")  # fmt: skip
    finished = {p: p.stat().st_mtime_ns for p in workdir.rglob("metrics.json")}
    os.killpg(second.pid, signal.SIGKILL)
    second.communicate(timeout=60)
    wait_for(lambda: not kernels_in(workdir), 30, "the orphaned kernel to exit")
    assert_every_metrics_file_is_a_finished_run(workdir)

    # 3. the re-run after the crash: unlock, finish what was incomplete
    unlock = start_snakemake(workdir, "--unlock")
    assert unlock.wait(timeout=120) == 0
    third = start_snakemake(workdir, "--rerun-incomplete")
    output = third.communicate(timeout=300)[0]
    assert third.returncode == 0, output[-3000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # the finished run was not run again
    assert straight.wait(timeout=300) == 0, straight.communicate()[0][-3000:]
    for run in RUNS:
        assert_same_run(run_dir(workdir, run), run_dir(reference, run))
