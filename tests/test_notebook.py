"""The strict notebook runner (python -m spikegrad.notebook): unknown parameters refused before a kernel starts,
a failing cell reported in one line with a non-zero exit, the output written only when every cell ran."""

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from spikegrad.data import prepare
from spikegrad.notebook import NotebookError, declared_parameters, parse_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TRAIN = REPO / "notebooks" / "train.ipynb"


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "spikegrad.notebook", *args, "--no-progress"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def last_line(run: subprocess.CompletedProcess) -> str:
    return run.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_one_papermill_sees(notebook):
    assert declared_parameters(notebook) == list(papermill.inspect_notebook(notebook))


def test_parameters_are_read_as_yaml_values():
    assert parse_parameters([("lr", "0.01"), ("hidden", "[8, 4]"), ("device", "cpu")], ['{"epochs": 2}']) == {
        "epochs": 2, "lr": 0.01, "hidden": [8, 4], "device": "cpu"}  # fmt: skip
    with pytest.raises(NotebookError, match="-y takes a mapping"):
        parse_parameters([], ["[1, 2]"])


def test_unknown_parameter_is_refused_before_any_kernel_starts(tmp_path):
    run = runner(str(TRAIN), "out.ipynb", "-p", "lrr", "0.1", cwd=tmp_path)
    assert run.returncode == 1
    assert last_line(run).startswith(f"error: {TRAIN} has no parameter 'lrr'; did you mean 'lr'? its parameters:")
    assert list(tmp_path.iterdir()) == []


def notebook_with(parameters_source: str, tmp_path: Path, kernelspec: bool = True) -> Path:
    """A two-cell notebook: the parameters cell, then a cell that records ``x``."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters_source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print('x =', x)")]
    if kernelspec:
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not a valid Jupyter notebook (Notebook does not appear to be JSON"),
     ('{"cells": 3}', "not a valid Jupyter notebook ("),
     ("x = (1,", "parameters cell line 1: ")],
    ids=["not_json", "wrong_schema", "parameters_syntax"],
)  # fmt: skip
def test_broken_notebooks_are_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "nb.ipynb"
    if content.startswith("{"):
        path.write_text(content)
    else:
        notebook_with(content, tmp_path)
    run = runner(str(path), "out.ipynb", cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert last_line(run).startswith(f"error: {path}: {message}"), last_line(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]


def test_a_notebook_without_kernelspec_runs_on_python3(tmp_path):
    path = notebook_with("x = 1", tmp_path, kernelspec=False)
    run = runner(str(path), "out.ipynb", "-p", "x", "7", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs
    assert outputs[0].text.strip() == "x = 7"


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (runner parameters, what the one error line must say)."""
    for path in prepare("yinyang", tmp_path / "corrupt"):
        path.write_bytes(path.read_bytes()[:300])  # truncated: a download or copy cut short
    (tmp_path / "empty").mkdir()
    small = ["-p", "max_train", "64", "-p", "epochs", "1", "-p", "hidden", "8", "-p", "progress", "false"]
    return {
        "invalid_config": ([*small, "-p", "tau_mem", "-20"], "ValueError: LIFParams.tau_mem must be a positive"),
        "missing_dataset": (
            [*small, "-p", "dataset", "shd", "-p", "data_root", str(tmp_path / "empty")],
            "shd_train.h5 is missing: expected",
        ),
        "corrupt_dataset": ([*small, "-p", "data_root", str(tmp_path / "corrupt")], "corrupt or unreadable dataset"),
        "buffer_overflow": (
            [*small, "-p", "engine", "eventprop", "-p", "max_spikes", "1", "-p", "hidden_init", "[20.0, 1.0]"],
            "spike buffer holds max_spikes=1; raise max_spikes",
        ),
    }


def test_bad_inputs_give_one_line_errors_and_no_output(tmp_path):
    cases = bad_input_cases(tmp_path)
    runs = {}
    for name, (parameters, _) in cases.items():  # concurrently: each starts a kernel
        out = tmp_path / name / "train.ipynb"
        command = [sys.executable, "-m", "spikegrad.notebook", str(TRAIN), str(out), *parameters, "--no-progress",
                   "-p", "out_dir", str(out.parent)]  # fmt: skip
        runs[name] = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for name, (_, message) in cases.items():
        stderr = runs[name].communicate(timeout=300)[1]
        assert runs[name].returncode == 1, (name, stderr[-2000:])
        line = stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: {TRAIN}: ") and message in line, (name, line)
        assert "Traceback" not in stderr, name
        out = tmp_path / name / "train.ipynb"
        assert not out.exists() and (out.parent / "train.failed.ipynb").exists(), name
        assert not (out.parent / "metrics.json").exists(), name


def test_every_notebook_refuses_an_unusable_device_before_loading_data(tmp_path):
    runs = {}
    for notebook in NOTEBOOKS:  # concurrently: each starts a kernel
        command = [sys.executable, "-m", "spikegrad.notebook", str(notebook), f"{notebook.stem}/out.ipynb",
                   "-p", "device", "cuda:99", "-p", "dataset", "shd", "--no-progress"]  # fmt: skip
        runs[notebook] = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for notebook, process in runs.items():
        stderr = process.communicate(timeout=300)[1]
        line = stderr.strip().splitlines()[-1]
        assert process.returncode == 1 and "Traceback" not in stderr, stderr[-2000:]
        assert line.startswith(f"error: {notebook}: ValueError: device 'cuda:99' is not available: "), line


def test_a_successful_run_writes_the_notebook_and_no_leftovers(tmp_path):
    out = tmp_path / "run" / "train.ipynb"
    (out.parent).mkdir()
    (out.parent / "train.failed.ipynb").write_text("{}")  # from an earlier failed attempt
    params = ["-y", "{max_train: 64, epochs: 1, progress: false, hidden: 8}", "-p", "out_dir", str(out.parent)]
    run = runner(str(TRAIN), str(out), *params, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith(".lock")) == [
        "checkpoint.safetensors", "history.csv", "history.png", "metrics.json", "sample.png", "train.ipynb",
        "weights.safetensors"]  # fmt: skip
