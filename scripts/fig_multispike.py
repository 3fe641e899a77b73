"""Figures of the multi-spike study from its tables: validation accuracy, silent neurons, spikes per layer and
decision latency vs epoch (from the per-epoch history) and the training time per epoch (from the run table), each
experiment at its selected learning rate."""

import pandas as pd

from spikegrad import plots, plots_multispike

sm = snakemake  # noqa: F821 (injected by Snakemake)
history = pd.read_csv(sm.input.history).query("selected")  # the tuned learning rate of each experiment
runs = pd.read_csv(sm.input.runs).query("selected")
plots.save(plots_multispike.accuracy_vs_epoch(history), sm.output.accuracy)
plots.save(plots_multispike.silent_neurons(history), sm.output.silent)
plots.save(plots_multispike.spikes_per_layer(history), sm.output.spikes)
plots.save(plots_multispike.decision_latency(history), sm.output.latency)
plots.save(plots_multispike.time_per_epoch(runs), sm.output.time)
