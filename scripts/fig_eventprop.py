"""Figure of one EventProp experiment: training curves, accuracy per loss or the base-loss comparison."""

import pandas as pd

from spikegrad import plots

sm = snakemake  # noqa: F821 (injected by Snakemake)
experiment, kind = sm.wildcards.experiment, sm.params.kind
runs = pd.read_csv(sm.input.runs)
history = pd.read_csv(sm.input.history)
runs, history = runs[runs["experiment"] == experiment], history[history["experiment"] == experiment]
if runs.empty or history.empty:
    raise ValueError(f"no finished runs of experiment {experiment!r} in {sm.input.runs}")
if kind == "curves":
    accuracy = 100 * runs["test_accuracy"]
    spread = f" ± {accuracy.std():.1f}" if len(runs) > 1 else ""
    fig = plots.training_curves(history, f"{experiment}: test {accuracy.mean():.1f}{spread} % (n = {len(runs)})")
elif kind == "per_loss":
    fig = plots.accuracy_per_loss(history, experiment)
elif kind == "comparison":
    fig = plots.loss_comparison(runs, history, experiment)
else:
    raise ValueError(f"unknown figure kind {kind!r} for experiment {experiment!r}")
plots.save(fig, sm.output[0])
