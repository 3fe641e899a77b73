"""Figure: validation accuracy vs epoch per dataset and learning rate."""

import pandas as pd

from spikegrad import plots

sm = snakemake  # noqa: F821 (injected by Snakemake)
plots.save(plots.learning_curves(pd.read_csv(sm.input.history)), sm.output[0])
