"""Tables of the sparse-backprop study: one row per run (with its mean seconds per epoch and last-epoch active
fractions), one row per run and epoch (both with each run's dataset from the config), and mean ± sd over seeds per
experiment, engine and B_th."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
experiments = sm.params.experiments  # experiment -> {"dataset": ...}
runs = results.load_runs(sm.params.root, sm.input.metrics)
history = results.load_histories(sm.params.root, sm.input.history)
for table in (runs, history):
    results.label_experiments(table, experiments, "sparse.experiments")
key = ["experiment", "engine", "band", "seed"]
active = sorted(c for c in history if c.startswith("active_l"))
per_run = history.groupby(key)["seconds"].mean().rename("seconds_per_epoch").reset_index()
last = history.sort_values("epoch").groupby(key).tail(1)[[*key, *active]]
runs = runs.merge(per_run, on=key, how="left").merge(last, on=key, how="left")
results.write_text(sm.output.runs, runs.to_csv(index=False))
results.write_text(sm.output.history, history.to_csv(index=False))
columns = ["test_accuracy", "best_val_accuracy", "seconds_per_epoch", *active]
summary = results.summarise(runs, by=["dataset", "experiment", "engine", "band"], columns=columns)
results.write_text(sm.output.summary, summary.to_csv(index=False))
