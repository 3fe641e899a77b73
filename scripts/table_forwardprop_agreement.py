"""Markdown table of the gradient agreement (spikegrad.agreement): the largest relative difference over seeds per
comparison and network."""

import pandas as pd

from spikegrad import agreement, results

sm = snakemake  # noqa: F821 (injected by Snakemake)
results.write_text(sm.output[0], agreement.markdown(pd.read_csv(sm.input.table)))
