"""Tables of the surrogate-gradient study: one row per run, one row per run and epoch, mean ± sd over seeds, and
for each learning-rate experiment the robustness of every SG shape and the task's sensitivity to the shape
(:func:`spikegrad.studies.surrogate.figures.robustness`, :func:`~spikegrad.studies.surrogate.figures.sensitivity`)."""

import pandas as pd

from spikegrad import results
from spikegrad.studies.surrogate.figures import robustness, sensitivity

SUMMARY_BY = ["experiment", "shape", "lr", "dampening", "sharpness", "tail", "conditions", "initial_rate", "sparsity"]
SUMMARY_COLUMNS = ["final_train_accuracy", "best_val_accuracy", "test_accuracy"]
ROBUSTNESS_COLUMNS = ["experiment", "shape", "robustness", "most_robust", "sensitivity"]


def robustness_table(runs: pd.DataFrame, lr_experiments: list[str]) -> pd.DataFrame:
    """Per learning-rate experiment with runs and SG shape: robustness, whether it is the most robust shape, and
    the experiment's sensitivity to the shape."""
    rows = []
    for experiment in lr_experiments:
        lr_runs = runs[runs["experiment"] == experiment]
        if lr_runs.empty:
            continue
        scores = robustness(lr_runs).rename("robustness").reset_index()
        rows.append(scores.assign(experiment=experiment, sensitivity=sensitivity(lr_runs),
                                  most_robust=scores["robustness"] == scores["robustness"].max()))  # fmt: skip
    return pd.concat(rows, ignore_index=True)[ROBUSTNESS_COLUMNS] if rows else pd.DataFrame(columns=ROBUSTNESS_COLUMNS)


def write(root, metrics: list, histories: list, lr_experiments: list[str], output) -> None:
    """Write ``output.runs``, ``.history``, ``.summary`` and ``.robustness``."""
    runs = results.write_run_tables(root, metrics, histories, output, SUMMARY_BY, SUMMARY_COLUMNS)
    results.write_text(output.robustness, robustness_table(runs, lr_experiments).to_csv(index=False))
