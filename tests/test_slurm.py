"""On a real single-node SLURM cluster started on this machine (munged, slurmctld and slurmd on localhost, from
Debian's slurm-wlm and munge): the smoke training sweep through ``snakemake --executor slurm`` delivers every
run's metrics and the summary table. Opt-in (marker ``slurm``; ``make test-slurm`` installs the packages and runs
it, as ``.ci/run`` does); skipped with the reason where the daemons are missing or cannot be configured."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tests.test_workflow import copy_workflow, snakemake

pytestmark = pytest.mark.slurm

DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "squeue", "sbatch", "scontrol")
CONF = Path("/etc/slurm/slurm.conf")  # where srun inside a job looks for it (no DNS SRV record here)
SLURM_CONF = """ClusterName=spikegrad-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {seconds} s waiting for {what}")


def _node_idle() -> bool:
    run = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return run.returncode == 0 and run.stdout.strip() in ("idle", "mix")


@pytest.fixture
def slurm_cluster(tmp_path_factory):
    """munged + slurmctld + slurmd on localhost for the test, stopped (and /etc/slurm/slurm.conf restored)
    after it."""
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld/slurmd and writing /etc/slurm/slurm.conf needs root")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    previous = CONF.read_text() if CONF.exists() else None
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(SLURM_CONF.format(root=root, cpus=os.cpu_count()))
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create"], check=True)
    for folder in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    started = []
    try:
        for command in (["munged", "--force"], ["slurmctld"], ["slurmd"]):
            subprocess.run(command, check=True, capture_output=True)
            started.append(command[0])
        _wait(_node_idle, 30, "the SLURM node to come up idle")
        yield root
    finally:
        subprocess.run(["scontrol", "shutdown"], capture_output=True)
        for daemon in reversed(started):
            subprocess.run(["pkill", "-x", daemon], capture_output=True)
        gone = lambda: all(subprocess.run(["pgrep", "-x", d], capture_output=True).returncode for d in started)  # noqa: E731
        _wait(gone, 30, "the SLURM daemons to stop")
        if previous is None:
            CONF.unlink(missing_ok=True)
        else:
            CONF.write_text(previous)


def test_smoke_sweep_through_the_slurm_executor_delivers_every_result(tmp_path, slurm_cluster):
    workdir = copy_workflow(tmp_path)
    run = snakemake(
        workdir, "results/smoke/tables/train_summary.csv", "--executor", "slurm", "--jobs", "4",
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
        "--default-resources", "slurm_partition=debug", "--latency-wait", "10", "--config", "scale=smoke",
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    rows = (workdir / "config/sweeps/train_smoke.tsv").read_text().splitlines()[1:]
    metrics = sorted((workdir / "results/smoke/train").rglob("metrics.json"))
    assert len(metrics) == len(rows)
    for path in metrics:
        assert 0.0 <= json.loads(path.read_text())["test_accuracy"] <= 1.0
    assert len((workdir / "results/smoke/tables/train_runs.csv").read_text().splitlines()) == len(rows) + 1
    # every job went through SLURM: the fresh cluster's only jobs, completed (MinJobAge keeps them listed)
    states = subprocess.run(["squeue", "--states=all", "-h", "-o", "%T"], capture_output=True, text=True).stdout
    assert states.split().count("COMPLETED") >= len(rows) + 1 and "FAILED" not in states
