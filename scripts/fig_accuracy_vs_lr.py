"""Figure: test accuracy vs learning rate per dataset."""

import pandas as pd

from spikegrad import plots

sm = snakemake  # noqa: F821 (injected by Snakemake)
plots.save(plots.accuracy_vs_lr(pd.read_csv(sm.input.runs)), sm.output[0])
