import subprocess
import sys

import pytest

from spikegrad.data import DATASETS, SPLITS, DataError, DatasetUnavailable, SpikeData, download, load, path_for, prepare

ALL = ("digits", "emnist", "fashion-mnist", "mnist", "nmnist", "shd", "spoken-commands", "spoken-digits", "ssc",
       "yinyang")  # fmt: skip


def test_names():
    assert DATASETS == ALL
    assert SPLITS == ("train", "validation", "test")


def test_unknown_name_or_split():
    with pytest.raises(ValueError, match=f"unknown dataset 'kmnist'; valid: {', '.join(ALL)}"):
        load("kmnist", "train")
    with pytest.raises(ValueError, match="unknown split 'val'; valid: train, validation, test"):
        load("digits", "val")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        prepare("nope", "anywhere")


def test_file_based_datasets_need_root_and_say_how_to_get_files(tmp_path):
    with pytest.raises(ValueError, match="pass root="):
        load("shd", "train")
    with pytest.raises(DatasetUnavailable, match="python -m spikegrad.data prepare spoken-digits --root"):
        load("spoken-digits", "train", root=tmp_path)
    with pytest.raises(DatasetUnavailable, match="download shd"):
        load("shd", "test", root=tmp_path)
    with pytest.raises(DatasetUnavailable, match=r"download emnist .*EMNIST/gzip\.zip and unpack it"):
        load("emnist", "test", root=tmp_path)
    with pytest.raises(ValueError, match="use download, not prepare"):
        prepare("mnist", tmp_path)
    with pytest.raises(ValueError, match="embedded .* use prepare"):
        download("digits", tmp_path)


def test_load_generates_with_kwargs():
    d = load("yinyang", "test", n=30, seed=3)
    assert isinstance(d, SpikeData) and len(d) == 30 and d.meta["params"]["seed"] == 3


def test_prepare_and_load_from_root(tmp_path):
    paths = prepare("digits", tmp_path)
    assert paths == [tmp_path / "digits" / f"{s}.h5" for s in SPLITS]
    assert all(p.is_file() for p in paths)
    for split in SPLITS:
        from_file = load("digits", split, root=tmp_path)
        assert from_file == load("digits", split)
    # kwargs must agree with the file's recorded parameters
    assert len(load("digits", "test", root=tmp_path, t_max=20.0)) == 360
    with pytest.raises(ValueError, match="t_max"):
        load("digits", "test", root=tmp_path, t_max=10.0)
    # no file for this dataset under root: generated instead
    assert len(load("yinyang", "test", root=tmp_path, n=12)) == 12
    # a corrupt file is reported, not regenerated silently
    path_for("digits", "train", tmp_path).write_bytes(b"garbage")
    with pytest.raises(DataError, match="train.h5"):
        load("digits", "train", root=tmp_path)


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "spikegrad.data", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_cli_prepare(tmp_path):
    result = run_cli("prepare", "yinyang", "--root", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines == [str(tmp_path / "data" / "yinyang" / f"{s}.h5") for s in SPLITS]
    assert len(SpikeData.load(lines[0])) == 5000


def test_cli_bad_name(tmp_path):
    result = run_cli("prepare", "nope", "--root", str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and "unknown dataset 'nope'" in message[0] and "yinyang" in message[0]
    assert not (tmp_path / "nope").exists()


def test_cli_unwritable_root_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = run_cli("prepare", "yinyang", "--root", str(tmp_path / "file" / "data"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("python -m spikegrad.data: error: [Errno 20] Not a directory")


def test_cli_refuses_to_download_an_embedded_dataset(tmp_path):
    result = run_cli("download", "digits", "--root", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "embedded" in result.stderr and "Traceback" not in result.stderr
