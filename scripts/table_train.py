"""Tables of the training sweep: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
root = sm.params.root
runs = results.load_runs(root, sm.input.metrics)
results.write_text(sm.output.runs, runs.to_csv(index=False))
history = results.load_histories(root, sm.input.history)
results.write_text(sm.output.history, history.to_csv(index=False))
summary = (
    runs.groupby(["dataset", "lr"])["test_accuracy"]
    .agg(["mean", "std", "count"])
    .rename(columns={"mean": "test_accuracy_mean", "std": "test_accuracy_sd", "count": "seeds"})
    .reset_index()
)
results.write_text(sm.output.summary, summary.to_csv(index=False))
