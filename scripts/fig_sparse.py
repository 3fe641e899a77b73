"""Figures of the sparse-backprop study from its tables and benchmark: active fraction vs epoch, dense vs sparse
accuracy, accuracy / speedup / memory vs B_th, speedup and memory vs hidden size."""

import pandas as pd

from spikegrad import plots, plots_sparse, results

sm = snakemake  # noqa: F821 (injected by Snakemake)
history = pd.read_csv(sm.input.history)
runs = pd.read_csv(sm.input.runs)
bench = results.read_json(sm.input.bench)
plots.save(plots_sparse.active_fraction(history), sm.output.active_fraction)
plots.save(plots_sparse.parity(runs), sm.output.parity)
plots.save(plots_sparse.band_sweep(runs, bench), sm.output.band)
plots.save(plots_sparse.scaling(bench), sm.output.scaling)
