"""Tables of the surrogate-gradient study: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results

sm = snakemake  # noqa: F821 (injected by Snakemake)
runs = results.write_run_tables(sm.params.root, sm.input.metrics, sm.input.history, sm.output.runs, sm.output.history)
summary = results.summarise(
    runs,
    by=["experiment", "shape", "lr", "dampening", "sharpness", "tail", "conditions", "initial_rate", "sparsity"],
    columns=["final_train_accuracy", "best_val_accuracy", "test_accuracy"],
)
results.write_text(sm.output.summary, summary.to_csv(index=False))
