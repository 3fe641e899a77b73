"""Where the workflow's time went: per rule, the number of jobs and their wall-clock seconds (total, mean, max)
from the Snakemake benchmark files under ``benchmarks/<scale>/`` (:func:`spikegrad.results.benchmark_times`)."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
results.write_text(sm.output[0], results.benchmark_times(sm.params.root).round(2).to_csv(index=False))
