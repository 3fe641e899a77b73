"""Figures and the Markdown summary of the performance suite from its three benchmark JSON files."""

from spikegrad import plots, plots_bench, results

sm = snakemake  # noqa: F821 (injected by Snakemake)
lif = results.read_json(sm.input.lif_layer)
step = results.read_json(sm.input.training_step)
event_sim = results.read_json(sm.input.event_sim)
plots.save(plots_bench.lif_layer(lif), sm.output.lif_layer)
plots.save(plots_bench.training_step(step), sm.output.training_step)
results.write_text(sm.output.summary, plots_bench.summary(lif, step, event_sim))
