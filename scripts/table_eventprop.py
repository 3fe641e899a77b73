"""Tables of the EventProp study: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
root = sm.params.root
runs = results.load_runs(root, sm.input.metrics)
results.write_text(sm.output.runs, runs.to_csv(index=False))
history = results.load_histories(root, sm.input.history)
results.write_text(sm.output.history, history.to_csv(index=False))
summary = results.summarise(
    runs,
    by=["experiment", "loss", "recurrent", "augment"],
    columns=["final_train_accuracy", "best_val_accuracy", "test_accuracy"],
)
results.write_text(sm.output.summary, summary.to_csv(index=False))
