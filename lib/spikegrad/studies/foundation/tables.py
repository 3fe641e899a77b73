"""Tables of the training sweep: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results


def write(root, metrics: list, histories: list, output) -> None:
    """Write ``output.runs``, ``.history`` and ``.summary`` (test accuracy per dataset and learning rate)."""
    runs = results.write_run_tables(root, metrics, histories, output.runs, output.history)
    summary = results.summarise(runs, by=["dataset", "lr"], columns=["test_accuracy"])
    results.write_text(output.summary, summary.to_csv(index=False))
