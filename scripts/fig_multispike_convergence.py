"""Convergence heatmaps (spikegrad.convergence): mean best accuracy per initial weight mean and sd, multi- vs
single-spike."""

import pandas as pd

from spikegrad import plots, plots_multispike

sm = snakemake  # noqa: F821 (injected by Snakemake)
plots.save(plots_multispike.convergence_heatmap(pd.read_csv(sm.input.table)), sm.output[0])
