"""Cost of forward propagation (full gradient and one JVP) against reverse mode vs hidden size, from the benchmark
JSON of spikegrad.bench.forwardprop."""

from spikegrad import plots, plots_forwardprop, results

sm = snakemake  # noqa: F821 (injected by Snakemake)
plots.save(plots_forwardprop.cost_scaling(results.read_json(sm.input.bench)), sm.output[0])
