import pytest

from spikegrad.sweeps import SweepError, read_sweep


def write(tmp_path, text):
    path = tmp_path / "sweep.tsv"
    path.write_text(text)
    return path


def test_valid_table(tmp_path):
    table = read_sweep(write(tmp_path, "dataset\tlr\tseed\nyinyang\t0.01\t0\ndigits\t1e-3\t2\n"), ["digits", "yinyang"])
    assert table["lr"].tolist() == ["0.01", "1e-3"]  # kept as spelled: it names the run directory


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset\tlr\n", "columns must be"),
        ("dataset\tlr\tseed\n", "no runs"),
        ("dataset\tlr\tseed\nmnist\t0.1\t0\n", "row 2: unknown dataset 'mnist'"),
        ("dataset\tlr\tseed\nyinyang\t-1\t0\n", "row 2: lr must be positive"),
        ("dataset\tlr\tseed\nyinyang\tnan\t0\n", "row 2: lr must be positive"),
        ("dataset\tlr\tseed\nyinyang\tfast\t0\n", "row 2: lr must be a number"),
        ("dataset\tlr\tseed\nyinyang\t0.1\t0.5\n", "row 2: seed must be"),
        ("dataset\tlr\tseed\nyinyang\t0.1\t0\nyinyang\t0.1\t0\n", "duplicate rows"),
    ],
)
def test_malformed_tables_name_file_and_row(tmp_path, text, message):
    with pytest.raises(SweepError, match=message):
        read_sweep(write(tmp_path, text), ["yinyang"])


def test_missing_table(tmp_path):
    with pytest.raises(SweepError, match="not found"):
        read_sweep(tmp_path / "nope.tsv", ["yinyang"])
