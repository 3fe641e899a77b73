import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spikegrad.studies.surrogate import sweeps as sg_sweeps
from spikegrad.sweeps import (
    SweepError,
    check_config,
    read_eventprop_sweep,
    read_multispike_sweep,
    read_sparse_sweep,
    read_surrogate_sweep,
    read_sweep,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (("datasets", "yinyang", "tau_mem"), -20.0, "yinyang.tau_mem: -20.0 is less than or equal to the minimum"),
        (("datasets", "yinyang", "surrogate"), "smooth", "datasets.yinyang.surrogate: 'smooth' is not one of"),
        (("datasets", "digits", "loss"), "nope", "datasets.digits.loss: 'nope' is not one of"),
        (("datasets", "digits", "batch_size"), 0, "datasets.digits.batch_size: 0 is less than the minimum of 1"),
        (("eventprop", "experiments", "yinyang_ttfs", "lr_decay"), 0.0, "yinyang_ttfs.lr_decay: 0.0 is less than"),
        (("eventprop", "experiments", "yinyang_ttfs", "dt"), -0.25, "yinyang_ttfs.dt: -0.25 is less than or equal to"),
        (("scale",), "huge", "scale: 'huge' is not one of"),
        (("eventprop", "experiments", "yinyang_ttfs", "tau1"), float("nan"), "yinyang_ttfs.tau1: NaN is not a value"),
        (("datasets", "digits", "hidden_init"), [float("nan"), 1.0], "datasets.digits.hidden_init.0: NaN is not a"),
    ],
)  # fmt: skip
def test_config_errors_name_the_entry_in_one_line(keys, value, message):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    check_config(config, REPO / "config/schema.yaml")  # the committed config is valid
    entry = config
    for key in keys[:-1]:
        entry = entry[key]
    entry[keys[-1]] = value
    with pytest.raises(SweepError) as error:
        check_config(config, REPO / "config/schema.yaml")
    assert str(error.value).startswith("config.yaml: ") and message in str(error.value)
    assert "\n" not in str(error.value)


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
        ("dataset\tlr\tseed\nmnist\t0.1\t0\n", "row 2: dataset must be one of \\['yinyang'\\], got 'mnist'"),
        ("dataset\tlr\tseed\nyinyang\t-1\t0\n", "row 2: lr must be a positive"),
        ("dataset\tlr\tseed\nyinyang\tnan\t0\n", "row 2: lr must be a positive"),
        ("dataset\tlr\tseed\nyinyang\tfast\t0\n", "row 2: lr must be a positive finite number, got 'fast'"),
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


EVENTPROP = "experiment\tloss\trecurrent\taugment\tlr\tepochs\tseed\n"


def test_eventprop_sweep(tmp_path):
    table = read_eventprop_sweep(write(tmp_path, EVENTPROP + "toy\tsum_weigh_exp\tTrue\tshift\t1e-3\t5\t0\n"),
                                 ["toy"], ["none", "shift"])  # fmt: skip
    assert table.iloc[0].to_dict()["loss"] == "sum_weigh_exp"
    for bad, message in [("toy\tmedian\tTrue\tnone\t1e-3\t5\t0", "loss must be one of"),
                         ("toy\tsum\tyes\tnone\t1e-3\t5\t0", "recurrent must be one of"),
                         ("toy\tsum\tTrue\tnone\t1e-3\t0\t0", "epochs must be an integer >= 1")]:  # fmt: skip
        with pytest.raises(SweepError, match=message):
            read_eventprop_sweep(write(tmp_path, EVENTPROP + bad + "\n"), ["toy"], ["none"])


SG_HEADER = "experiment\tshape\tlr\tdampening\tsharpness\ttail\tconditions\tinitial_rate\tsparsity\tepochs\tseed\n"
SG_ROW = ["lr_digits", "fast_sigmoid", "0.01", "1.0", "1.0", "1.56", "I+II", "none", "0.0", "6", "0"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (1, "heaviside", "shape must be one of"),
        (3, "0", "dampening must be a positive"),
        (5, "1.0", r"tail must be a number in \(1.0, inf\)"),
        (6, "I+V", "conditions must be 'none' or some of"),
        (6, "II+II", "conditions must be 'none' or some of"),
        (7, "1.5", r"initial_rate must be a number in \(0.0, 1.0\)"),
        (8, "-1", r"sparsity must be a number in \[0.0, inf\]"),
        (9, "0", "epochs must be an integer >= 1"),
    ],
)
def test_surrogate_sweep_rejects_bad_entries(tmp_path, column, value, message):
    assert len(read_surrogate_sweep(write(tmp_path, SG_HEADER + "\t".join(SG_ROW) + "\n"), ["lr_digits"])) == 1
    row = SG_ROW.copy()
    row[column] = value
    with pytest.raises(SweepError, match="row 2: " + message):
        read_surrogate_sweep(write(tmp_path, SG_HEADER + "\t".join(row) + "\n"), ["lr_digits"])


def test_committed_surrogate_sweeps_are_what_the_generator_writes():
    for scale, make in (("smoke", sg_sweeps.smoke), ("quick", sg_sweeps.quick), ("paper", sg_sweeps.paper)):
        committed = (REPO / "config" / "sweeps" / f"surrogate_{scale}.tsv").read_text()
        assert committed == pd.DataFrame(make(), columns=sg_sweeps.COLUMNS).to_csv(sep="\t", index=False)


def test_multispike_sweep(tmp_path):
    header = "experiment\tlr\tseed\n"
    table = read_multispike_sweep(write(tmp_path, header + "digits_multi\t0.01\t0\ndigits_single\t0.003\t1\n"),
                                  ["digits_single", "digits_multi"])  # fmt: skip
    assert table.to_dict("records") == [{"experiment": "digits_multi", "lr": "0.01", "seed": "0"},
                                        {"experiment": "digits_single", "lr": "0.003", "seed": "1"}]  # fmt: skip
    for bad, message in [("mnist_multi\t0.01\t0", "experiment must be one of"), ("digits_multi\t0\t0", "lr must be"),
                         ("digits_multi\t0.01\t-1", "seed must be")]:  # fmt: skip
        with pytest.raises(SweepError, match="row 2: " + message):
            read_multispike_sweep(write(tmp_path, header + bad + "\n"), ["digits_multi"])
    with pytest.raises(SweepError, match="columns must be"):
        read_multispike_sweep(write(tmp_path, "experiment\tseed\ndigits_multi\t0\n"), ["digits_multi"])


def test_committed_multispike_sweeps_name_configured_experiments():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["multispike"]
    for scale, path in config["sweeps"].items():
        table = read_multispike_sweep(REPO / path, config["experiments"])
        assert scale != "quick" or sorted(set(table["seed"])) == ["0", "1"]
        # equal tuning effort: every variant of a scale tries the same learning rates
        lrs = {variant: sorted(set(table.loc[table["experiment"].map(lambda e: config["experiments"][e]["variant"])
                                             == variant, "lr"])) for variant in ("single", "multi")}  # fmt: skip
        assert scale != "quick" or lrs["single"] == lrs["multi"] and len(lrs["single"]) >= 3


def test_sparse_sweep(tmp_path):
    header = "experiment\tengine\tband\tseed\n"
    table = read_sparse_sweep(write(tmp_path, header + "digits\tbptt\tinf\t0\ndigits\tsparse\t0.2\t0\n"), ["digits"])
    assert table.to_dict("records") == [
        {"experiment": "digits", "engine": "bptt", "band": "inf", "seed": "0"},
        {"experiment": "digits", "engine": "sparse", "band": "0.2", "seed": "0"},
    ]
    bad_rows = [
        ("shd\tsparse\t0.2\t0", "experiment must be one of"),
        ("digits\tadjoint\tinf\t0", "engine"),
        ("digits\tsparse\t-1\t0", "band must be"),
        ("digits\tbptt\t0.2\t0", "engine bptt has no active set"),
    ]
    for bad, message in bad_rows:
        with pytest.raises(SweepError, match="row 2: " + message):
            read_sparse_sweep(write(tmp_path, header + bad + "\n"), ["digits"])


def test_committed_sparse_sweeps_name_configured_experiments():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["sparse"]
    for scale, path in config["sweeps"].items():
        table = read_sparse_sweep(REPO / path, config["experiments"])
        assert set(table["engine"]) == {"bptt", "sparse"}, scale


def test_sweep_columns_are_typed_both_ways():
    from spikegrad.results import run_parameters
    from spikegrad.sweeps import typed

    row = {"experiment": "spoken", "loss": "sum", "recurrent": "False", "lr": "3.16e-05", "epochs": "12", "seed": "0",
           "band": "inf", "initial_rate": "none"}  # fmt: skip
    assert typed(row) == {"experiment": "spoken", "loss": "sum", "recurrent": False, "lr": 3.16e-05, "epochs": 12,
                          "seed": 0, "band": math.inf, "initial_rate": "none"}  # fmt: skip
    assert typed({"initial_rate": "0.3", "recurrent": "True"}) == {"initial_rate": 0.3, "recurrent": True}
    run_dir = Path("runs/experiment~spoken/recurrent~True/lr~0.01/seed~2")
    assert run_parameters(run_dir, Path("runs")) == {"experiment": "spoken", "recurrent": True, "lr": 0.01, "seed": 2}
    with pytest.raises(SweepError, match=r"\['width'\] have no type"):
        typed({"width": "3"})
    with pytest.raises(ValueError, match="True or False"):
        typed({"recurrent": "yes"})
