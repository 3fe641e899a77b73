"""Tables of the multi-spike study: one row per run, one row per run and epoch (both with each run's dataset and
variant from the config), and mean ± sd over seeds per experiment and learning rate. Each experiment's learning
rate is tuned the same way for both variants: the rate with the best mean validation accuracy is ``selected``
(``lrs_tried`` records how many were tried); the figures and the replication table use the selected runs."""

from spikegrad import results

SUMMARY_BY = ["dataset", "variant", "experiment", "lr"]


def write(root, metrics: list, histories: list, experiments: dict, output) -> None:
    """Write ``output.runs``, ``.history`` (both with a ``selected`` column) and ``.summary``; ``experiments``:
    experiment → {"dataset": ..., "variant": ...} (config ``multispike.experiments``)."""
    runs = results.load_runs(root, metrics)
    history = results.load_histories(root, histories)
    for table in (runs, history):
        results.label_experiments(table, experiments, "multispike.experiments")
    columns = ["best_val_accuracy", "test_accuracy", "test_latency", "seconds_per_epoch"]
    columns += sorted(c for c in runs if c.startswith(("test_spikes_l", "test_silent_l")))
    summary = results.summarise(runs, by=SUMMARY_BY, columns=columns)
    summary = results.select_best(summary, by="experiment", score="best_val_accuracy_mean", tried="lr")
    selected = summary.loc[summary["selected"], ["experiment", "lr"]].assign(selected=True)
    for name, table in (("runs", runs), ("history", history)):
        table = table.merge(selected, on=["experiment", "lr"], how="left").fillna({"selected": False})
        results.write_text(getattr(output, name), table.to_csv(index=False))
    results.write_text(output.summary, summary.to_csv(index=False))
