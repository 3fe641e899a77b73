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
    script:
        "../scripts/table_train.py"


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
    script:
        "../scripts/fig_accuracy_vs_lr.py"


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
    script:
        "../scripts/fig_learning_curves.py"


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
    script:
        "../scripts/fig_spoken_samples.py"
