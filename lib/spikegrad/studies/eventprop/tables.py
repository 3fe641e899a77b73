"""Tables of the EventProp study: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results

SUMMARY_BY = ["experiment", "loss", "recurrent", "augment"]
SUMMARY_COLUMNS = ["final_train_accuracy", "best_val_accuracy", "test_accuracy"]


def write(root, metrics: list, histories: list, output) -> None:
    """Write ``output.runs`` (one row per run), ``.history`` (per run and epoch) and ``.summary`` (mean ± sd over
    seeds, :func:`spikegrad.results.summarise`)."""
    runs = results.write_run_tables(root, metrics, histories, output.runs, output.history)
    results.write_text(output.summary, results.summarise(runs, SUMMARY_BY, SUMMARY_COLUMNS).to_csv(index=False))
