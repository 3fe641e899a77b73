"""Figure: spike creation and deletion on short vs long trials (EventProp study)."""

import pandas as pd

from spikegrad import plots

sm = snakemake  # noqa: F821 (injected by Snakemake)
short, long = sm.params.experiments
plots.save(plots.spike_deletion(pd.read_csv(sm.input.history), short, long), sm.output[0])
