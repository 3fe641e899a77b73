rule table_train:
    input:
        metrics=expand(f"{RESULTS}/train/{{params}}/metrics.json", params=TRAIN.instance_patterns),
        history=expand(f"{RESULTS}/train/{{params}}/history.csv", params=TRAIN.instance_patterns),
    output:
        runs=f"{RESULTS}/tables/train_runs.csv",
        history=f"{RESULTS}/tables/train_history.csv",
        summary=f"{RESULTS}/tables/train_summary.csv",
    log:
        f"logs/{config['scale']}/tables/train.log",
    params:
        root=f"{RESULTS}/train",
    run:
        from spikegrad.studies.foundation import tables

        tables.write(params.root, input.metrics, input.history, output)


rule fig_accuracy_vs_lr:
    input:
        runs=f"{RESULTS}/tables/train_runs.csv",
    output:
        report(
            "figures/foundation/accuracy_vs_lr.png",
            caption="../report/accuracy_vs_lr.rst",
            category="foundation",
        ),
    log:
        "logs/figures/foundation/accuracy_vs_lr.log",
    run:
        import pandas as pd

        from spikegrad import plots

        plots.save(plots.accuracy_vs_lr(pd.read_csv(input.runs)), output[0])


rule fig_learning_curves:
    input:
        history=f"{RESULTS}/tables/train_history.csv",
    output:
        report(
            "figures/foundation/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="foundation",
        ),
    log:
        "logs/figures/foundation/learning_curves.log",
    run:
        import pandas as pd

        from spikegrad import plots

        plots.save(plots.learning_curves(pd.read_csv(input.history)), output[0])


rule fig_spoken_samples:
    input:
        test=f"{DATA}/{{dataset}}/test.h5",
    output:
        report(
            "figures/datasets/{dataset}_samples.png",
            caption="../report/spoken_samples.rst",
            category="datasets",
        ),
    log:
        "logs/figures/datasets/{dataset}_samples.log",
    params:
        seed=0,
    wildcard_constraints:
        dataset="|".join(SPOKEN),
    run:
        from spikegrad.plots import save
        from spikegrad.studies.foundation.figures import spoken_samples

        save(spoken_samples(input.test, wildcards.dataset, int(params.seed)), output[0])
