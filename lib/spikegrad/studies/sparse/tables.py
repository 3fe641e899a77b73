"""Tables of the sparse-backprop study: one row per run (with its last-epoch active fractions), one row per run and
epoch (both with each run's dataset from the config), and mean ± sd over seeds per experiment, engine and B_th."""

from spikegrad import results

RUN_KEY = ["experiment", "engine", "band", "seed"]


def write(root, metrics: list, histories: list, experiments: dict, output) -> None:
    """Write ``output.runs``, ``.history`` and ``.summary``; ``experiments``: experiment → {"dataset": ...}."""
    runs = results.load_runs(root, metrics)
    history = results.load_histories(root, histories)
    for table in (runs, history):
        results.label_experiments(table, experiments, "sparse.experiments")
    active = sorted(c for c in history if c.startswith("active_l"))
    last = history.sort_values("epoch").groupby(RUN_KEY).tail(1)[[*RUN_KEY, *active]]
    runs = runs.merge(last, on=RUN_KEY, how="left")
    results.write_text(output.runs, runs.to_csv(index=False))
    results.write_text(output.history, history.to_csv(index=False))
    columns = ["test_accuracy", "best_val_accuracy", "seconds_per_epoch", *active]
    summary = results.summarise(runs, by=["dataset", "experiment", "engine", "band"], columns=columns)
    results.write_text(output.summary, summary.to_csv(index=False))
