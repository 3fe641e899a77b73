"""Figure of the surrogate-gradient study: accuracy vs learning rate, an SG-parameter sweep, the conditions
ablation or accuracy vs firing rate of one experiment, or the sensitivity of several learning-rate experiments."""

from functools import partial

import pandas as pd

from spikegrad import plots, plots_surrogate

sm = snakemake  # noqa: F821 (injected by Snakemake)
FIGURES = {
    "lr": plots_surrogate.accuracy_vs_lr,
    **{name: partial(plots_surrogate.parameter_sweep, parameter=name) for name in plots_surrogate.SWEEPS},
    "conditions": plots_surrogate.conditions_ablation,
    "sparsity": plots_surrogate.rate_scatter,
}


def experiment_runs(runs: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The runs of ``experiment``; ValueError if it has none."""
    selected = runs[runs["experiment"] == experiment]
    if selected.empty:
        raise ValueError(f"no finished runs of experiment {experiment!r} in {sm.input.runs}")
    return selected


kind = sm.params.kind
if kind != "sensitivity" and kind not in FIGURES:
    raise ValueError(f"unknown figure kind {kind!r}; expected 'sensitivity' or one of {list(FIGURES)}")
runs = pd.read_csv(sm.input.runs)
if kind == "sensitivity":
    fig = plots_surrogate.sensitivity_summary({name: experiment_runs(runs, name) for name in sm.params.experiments})
else:
    experiment = sm.wildcards.experiment
    fig = FIGURES[kind](experiment_runs(runs, experiment), title=experiment)
plots.save(fig, sm.output[0])
