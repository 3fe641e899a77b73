"""Tables of the training sweep: one row per run, one row per run and epoch, and mean ± sd over seeds."""

from spikegrad import results


def write(root, metrics: list, histories: list, output) -> None:
    """Write ``output.runs``, ``.history`` and ``.summary`` (test accuracy per dataset and learning rate)."""
    results.write_run_tables(root, metrics, histories, output, by=["dataset", "lr"], columns=["test_accuracy"])
