"""Tables of the surrogate-gradient study: one row per run, one row per run and epoch, mean ± sd over seeds, and
for each learning-rate experiment the robustness of every SG shape and the task's sensitivity to the shape
(:func:`spikegrad.plots_surrogate.robustness`, :func:`~spikegrad.plots_surrogate.sensitivity`)."""

import pandas as pd

from spikegrad import results
from spikegrad.plots_surrogate import robustness, sensitivity

sm = snakemake  # noqa: F821 (injected by Snakemake)
runs = results.write_run_tables(sm.params.root, sm.input.metrics, sm.input.history, sm.output.runs, sm.output.history)
summary = results.summarise(
    runs,
    by=["experiment", "shape", "lr", "dampening", "sharpness", "tail", "conditions", "initial_rate", "sparsity"],
    columns=["final_train_accuracy", "best_val_accuracy", "test_accuracy"],
)
results.write_text(sm.output.summary, summary.to_csv(index=False))
rows = []
for experiment in sm.params.lr_experiments:
    lr_runs = runs[runs["experiment"] == experiment]
    if lr_runs.empty:
        continue
    scores = robustness(lr_runs).rename("robustness").reset_index()
    rows.append(scores.assign(experiment=experiment, sensitivity=sensitivity(lr_runs),
                              most_robust=scores["robustness"] == scores["robustness"].max()))  # fmt: skip
columns = ["experiment", "shape", "robustness", "most_robust", "sensitivity"]
table = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
results.write_text(sm.output.robustness, table.to_csv(index=False))
