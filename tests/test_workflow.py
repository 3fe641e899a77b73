"""End to end: the Snakemake workflow at the smoke scale, run in a temporary copy of the repository."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from spikegrad.replication import VERDICTS

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ["Snakefile", "rules", "config", "notebooks", "scripts", "report"]


def copy_workflow(dest: Path) -> Path:
    for name in WORKFLOW:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_smoke_workflow_produces_figures_metrics_and_report(tmp_path):
    workdir = copy_workflow(tmp_path)
    run = snakemake(workdir, "all", "--config", "scale=smoke")
    assert run.returncode == 0, run.stderr[-3000:]
    for figure in ("foundation/accuracy_vs_lr.png", "foundation/learning_curves.png",
                   "datasets/spoken-digits_samples.png", "datasets/spoken-commands_samples.png"):  # fmt: skip
        assert (workdir / "figures" / figure).stat().st_size > 10_000
    metrics = sorted((workdir / "results" / "smoke" / "train").rglob("metrics.json"))
    assert len(metrics) == len((workdir / "config/sweeps/train_smoke.tsv").read_text().splitlines()) - 1
    for path in metrics:
        values = json.loads(path.read_text())
        assert 0.0 <= values["test_accuracy"] <= 1.0 and math.isfinite(values["test_loss"])
        assert values["versions"]["torch"] and values["seed"] == 0
        executed = nbformat.read(path.parent / "train.ipynb", as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    eventprop = sorted((workdir / "results" / "smoke" / "eventprop" / "runs").rglob("metrics.json"))
    assert len(eventprop) == len((workdir / "config/sweeps/eventprop_smoke.tsv").read_text().splitlines()) - 1
    assert all(json.loads(p.read_text())["engine"] == "eventprop" for p in eventprop)
    for figure in ("yinyang_ttfs", "digits_losses", "spoken_losses", "gradient_flow", "spike_deletion"):
        assert (workdir / "figures" / "eventprop" / f"{figure}.png").stat().st_size > 10_000
    surrogate = sorted((workdir / "results" / "smoke" / "surrogate" / "runs").rglob("metrics.json"))
    assert len(surrogate) == len((workdir / "config/sweeps/surrogate_smoke.tsv").read_text().splitlines()) - 1
    assert all("predicted_dampening" in json.loads(p.read_text()) for p in surrogate)
    table = pd.read_csv(workdir / "results/smoke/replication.csv")  # every claim has a row and a verdict
    claims = yaml.safe_load((workdir / "config/replication.yaml").read_text())["claims"]
    assert table["id"].tolist() == [c["id"] for c in claims] and table["verdict"].isin(VERDICTS).all()
    assert "claims at the `smoke` scale" in (workdir / "results/smoke/replication.md").read_text()
    timing = pd.read_csv(workdir / "results/smoke/timing.csv")  # per rule, from the jobs' benchmark files
    assert {"train", "eventprop_train", "surrogate_train", "prepare_data"} <= set(timing["rule"])
    assert (timing["total_s"] > 0).all() and timing["jobs"].sum() >= len(metrics) + len(eventprop) + len(surrogate)
    for figure in ("lr_digits", "dampening_digits", "sharpness_digits", "tail_digits", "conditions_digits",
                   "sparsity_digits", "sensitivity"):  # fmt: skip
        assert (workdir / "figures" / "surrogate" / f"{figure}.png").stat().st_size > 10_000
    multispike = sorted((workdir / "results" / "smoke" / "multispike" / "runs").rglob("metrics.json"))
    assert len(multispike) == len((workdir / "config/sweeps/multispike_smoke.tsv").read_text().splitlines()) - 1
    assert all(json.loads(p.read_text())["engine"] == "spiketime" for p in multispike)
    for figure in ("accuracy", "silent", "spikes", "latency", "time", "convergence"):
        assert (workdir / "figures" / "multispike" / f"{figure}.png").stat().st_size > 10_000
    sparse = sorted((workdir / "results" / "smoke" / "sparse" / "runs").rglob("metrics.json"))
    assert len(sparse) == len((workdir / "config/sweeps/sparse_smoke.tsv").read_text().splitlines()) - 1
    assert {json.loads(p.read_text())["engine"] for p in sparse} == {"bptt", "sparse"}
    for figure in ("active_fraction", "parity", "band", "scaling"):
        assert (workdir / "figures" / "sparse" / f"{figure}.png").stat().st_size > 10_000
    bench = json.loads((workdir / "results" / "smoke" / "sparse" / "bench.json").read_text())
    assert all(case["backward_speedup"] > 0 for case in bench["by_hidden"] + bench["by_band"])
    assert (workdir / "figures" / "forwardprop" / "cost.png").stat().st_size > 10_000
    assert "| forwardprop vs spiketime |" in (workdir / "figures" / "forwardprop" / "agreement.md").read_text()
    summary = (workdir / "results" / "smoke" / "tables" / "train_summary.csv").read_text()
    assert summary.splitlines()[0] == "dataset,lr,test_accuracy_mean,test_accuracy_sd,seeds"

    report = snakemake(workdir, "all", "--config", "scale=smoke", "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (workdir / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("override", "message"),
    [("scale=huge", "config.yaml: scale: 'huge' is not one of"), ("device=gpu0", "config.yaml: device: 'gpu0'")],
)
def test_invalid_config_stops_before_any_job_with_one_line(tmp_path, override, message):
    run = snakemake(copy_workflow(tmp_path), "all", "--dry-run", "--config", override)
    assert run.returncode != 0
    assert any(line.startswith(message) for line in (run.stdout + run.stderr).splitlines())
    assert "Failed validating" not in run.stdout + run.stderr  # not the schema dump
    assert not (tmp_path / "results").exists()


def test_unknown_experiment_dataset_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = workdir / "config/config.yaml"
    config.write_text(config.read_text().replace("dataset: shd", "dataset: shdd", 1))
    run = snakemake(workdir, "all", "--dry-run", "--config", "scale=smoke")
    assert run.returncode != 0
    assert "dataset is 'shdd', not a dataset; choose one of" in run.stdout + run.stderr
    assert not (workdir / "results").exists()


def test_malformed_sweep_table_is_reported_with_file_and_row(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "config/sweeps/train_smoke.tsv").write_text("dataset\tlr\tseed\nyinyang\t-0.1\t0\n")
    run = snakemake(workdir, "all", "--dry-run", "--config", "scale=smoke")
    assert run.returncode != 0
    assert "train_smoke.tsv row 2: lr must be a positive finite number, got '-0.1'" in run.stdout + run.stderr


@pytest.mark.parametrize("caption", sorted((REPO / "report").glob("*.rst")), ids=lambda p: p.stem)
def test_report_captions_render_without_errors(caption):
    import docutils.core

    settings = {"report_level": 5, "halt_level": 2}  # a warning (e.g. |x| read as a substitution) raises
    docutils.core.publish_string(caption.read_text(), writer="html", settings_overrides=settings)


def test_notebooks_are_stored_without_outputs_and_have_a_parameters_cell():
    for path in (REPO / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path


MULTISPIKE_JOBS = {  # rule: jobs at the smoke scale
    "multispike_train": 2,
    "table_multispike": 1,
    "multispike_convergence": 1,
    "fig_multispike": 1,
    "fig_multispike_convergence": 1,
    "forwardprop_agreement": 1,
    "forwardprop_bench": 1,
    "table_forwardprop_agreement": 1,
    "fig_forwardprop_cost": 1,
    "sparse_train": 2,
    "sparse_bench": 1,
    "table_sparse": 1,
    "fig_sparse": 1,
    "replication": 1,
    "timing": 1,
}


def job_counts(text: str) -> dict[str, int]:
    """The "rule  count" rows of a dry run's job table."""
    rows = (line.split() for line in text.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


def test_dry_run_schedules_the_multispike_forwardprop_and_sparse_jobs(tmp_path):
    workdir = copy_workflow(tmp_path)
    run = snakemake(workdir, "all", "--dry-run", "--config", "scale=smoke")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    assert {rule: counts.get(rule) for rule in MULTISPIKE_JOBS} == MULTISPIKE_JOBS
    for scale, runs in (("quick", 24), ("paper", 15)):  # every scale's sweep and settings pass the schema
        run = snakemake(workdir, "figures/multispike/accuracy.png", "--dry-run", "--config", f"scale={scale}")
        assert run.returncode == 0, run.stderr[-3000:]
        assert job_counts(run.stdout)["multispike_train"] == runs
    for scale, runs in (("quick", 18), ("paper", 11)):
        run = snakemake(workdir, "figures/sparse/parity.png", "--dry-run", "--config", f"scale={scale}")
        assert run.returncode == 0, run.stderr[-3000:]
        assert job_counts(run.stdout)["sparse_train"] == runs


BENCH_JOBS = {"bench_lif_layer": 1, "bench_training_step": 1, "bench_event_sim": 1, "fig_bench": 1, "bench": 1}


def test_bench_target_is_separate_from_all_and_valid_at_every_scale(tmp_path):
    workdir = copy_workflow(tmp_path)
    run = snakemake(workdir, "all", "--dry-run", "--config", "scale=smoke")
    assert run.returncode == 0, run.stderr[-3000:]
    assert not set(BENCH_JOBS) & set(job_counts(run.stdout))  # timings are not part of the reproduction
    for scale in ("smoke", "quick", "paper"):
        run = snakemake(workdir, "bench", "--dry-run", "--config", f"scale={scale}")
        assert run.returncode == 0, run.stderr[-3000:]
        assert {rule: job_counts(run.stdout).get(rule) for rule in BENCH_JOBS} == BENCH_JOBS


@pytest.mark.slow
def test_smoke_bench_writes_json_figures_and_summary(tmp_path):
    workdir = copy_workflow(tmp_path)
    run = snakemake(workdir, "bench", "--config", "scale=smoke")
    assert run.returncode == 0, run.stderr[-3000:]
    layer = json.loads((workdir / "results/smoke/bench/lif_layer.json").read_text())
    assert all("forward_ms" in entry for entry in layer["by_size"]["32"].values())  # every peer library ran
    for figure in ("lif_layer", "training_step"):
        assert (workdir / "figures" / "bench" / f"{figure}.png").stat().st_size > 10_000
    summary = (workdir / "figures" / "bench" / "summary.md").read_text()
    assert layer["measured_at"] in summary and "| 32 | fwd + bwd |" in summary and "EventProp" in summary


def test_slurm_profile_schedules_the_paper_scale_with_gpu_requests(tmp_path):
    workdir = copy_workflow(tmp_path)
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    profile = ("--profile", "profiles/slurm")
    run = snakemake(workdir, "all", *profile, "--dry-run", "--config", "scale=paper", "device=cuda")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = run.stdout.split("\n\n")
    train = next(job for job in jobs if "rule sparse_train:" in job)
    assert "gpu=1" in train and "slurm_partition=gpu" in train and "runtime=1440" in train
    table = next(job for job in jobs if "rule table_sparse:" in job)
    assert "slurm_partition=cpu" in table and "gpu=1" not in table
