"""Tables of the EventProp study: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results

SUMMARY_BY = ["experiment", "loss", "recurrent", "augment"]
SUMMARY_COLUMNS = ["final_train_accuracy", "best_val_accuracy", "test_accuracy"]


def write(root, metrics: list, histories: list, output) -> None:
    """Write ``output.runs`` (one row per run), ``.history`` (per run and epoch) and ``.summary`` (mean ± sd over
    seeds, :func:`spikegrad.results.summarise`)."""
    results.write_run_tables(root, metrics, histories, output, SUMMARY_BY, SUMMARY_COLUMNS)
