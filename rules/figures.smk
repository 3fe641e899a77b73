rule table_train:
    input:
        metrics=expand("results/train/{params}/metrics.json", params=TRAIN.instance_patterns),
        history=expand("results/train/{params}/history.csv", params=TRAIN.instance_patterns),
    output:
        runs="results/tables/train_runs.csv",
        history="results/tables/train_history.csv",
        summary="results/tables/train_summary.csv",
    log:
        "logs/tables/train.log",
    script:
        "../scripts/table_train.py"


rule fig_accuracy_vs_lr:
    input:
        runs="results/tables/train_runs.csv",
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
        history="results/tables/train_history.csv",
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
