"""Tables of the multi-spike study: one row per run, one row per run and epoch (both with each run's dataset and
variant from the config), and mean ± sd over seeds per experiment."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
experiments = sm.params.experiments  # experiment -> {"dataset": ..., "variant": ...}
runs = results.load_runs(sm.params.root, sm.input.metrics)
history = results.load_histories(sm.params.root, sm.input.history)
for table in (runs, history):
    results.label_experiments(table, experiments, "multispike.experiments")
results.write_text(sm.output.runs, runs.to_csv(index=False))
results.write_text(sm.output.history, history.to_csv(index=False))
columns = ["best_val_accuracy", "test_accuracy", "test_latency", "seconds_per_epoch"]
columns += sorted(c for c in runs if c.startswith(("test_spikes_l", "test_silent_l")))
summary = results.summarise(runs, by=["dataset", "variant", "experiment"], columns=columns)
results.write_text(sm.output.summary, summary.to_csv(index=False))
