# Surrogate-gradient design (Herranz-Celotti & Rouat): training runs from the scale's sweep, tables,
# figures/surrogate/.
from spikegrad.sweeps import read_surrogate_sweep

SURROGATE = config["surrogate"]
SG_RUNS = read_surrogate_sweep(SURROGATE["sweeps"][config["scale"]], SURROGATE["experiments"])
SG = Paramspace(SG_RUNS)
SG_RESULTS = f"{RESULTS}/surrogate"
SG_EXPERIMENTS = sorted(set(SG_RUNS["experiment"]))


def surrogate_data(wildcards):
    """The data files of the run's experiment (:func:`dataset_files`)."""
    return dataset_files(SURROGATE["experiments"][SG.instance(wildcards)["experiment"]]["dataset"])


def surrogate_notebook_args(wildcards):
    run = typed(SG.instance(wildcards))
    settings = {k: v for k, v in SURROGATE["experiments"][run["experiment"]].items() if k != "figure"}
    parameters = {
        **settings,
        "shape": run["shape"],
        "lr": run["lr"],
        "dampening": run["dampening"],
        "sharpness": run["sharpness"],
        "tail": run["tail"],
        "conditions": run["conditions"],
        "initial_rate": None if run["initial_rate"] == "none" else run["initial_rate"],
        "sparsity": run["sparsity"],
        "epochs": run["epochs"],
        "seed": run["seed"],
        "max_train": SCALE["max_train"],
        "device": config["device"],
        "data_root": DATA,
        "out_dir": f"{SG_RESULTS}/runs/{SG.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    return shlex.join(["-y", json.dumps(parameters)])


def surrogate_outputs():
    outputs = [f"figures/surrogate/{name}.png" for name in SG_EXPERIMENTS]
    compared = SURROGATE["sensitivity"].get(config["scale"], [])
    if compared and all(name in SG_EXPERIMENTS for name in compared):
        outputs.append("figures/surrogate/sensitivity.png")
    return outputs


rule surrogate_train:
    input:
        notebook="notebooks/surrogate.ipynb",
        data=surrogate_data,
    output:
        metrics=f"{SG_RESULTS}/runs/{SG.wildcard_pattern}/metrics.json",
        history=f"{SG_RESULTS}/runs/{SG.wildcard_pattern}/history.csv",
        weights=f"{SG_RESULTS}/runs/{SG.wildcard_pattern}/weights.safetensors",
        notebook=f"{SG_RESULTS}/runs/{SG.wildcard_pattern}/surrogate.ipynb",
    benchmark:
        f"{BENCHMARKS}/surrogate_train/{SG.wildcard_pattern}.tsv",
    log:
        f"logs/{config['scale']}/surrogate/{SG.wildcard_pattern}.log",
    params:
        args=surrogate_notebook_args,
    threads: 1
    resources:
        runtime=60 * 12,
        mem_mb=8000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.notebook {input.notebook} {output.notebook} --no-progress {params.args} > {log} 2>&1"


rule table_surrogate:
    input:
        metrics=expand(f"{SG_RESULTS}/runs/{{params}}/metrics.json", params=SG.instance_patterns),
        history=expand(f"{SG_RESULTS}/runs/{{params}}/history.csv", params=SG.instance_patterns),
    output:
        runs=f"{SG_RESULTS}/tables/runs.csv",
        history=f"{SG_RESULTS}/tables/history.csv",
        summary=f"{SG_RESULTS}/tables/summary.csv",
        robustness=f"{SG_RESULTS}/tables/robustness.csv",
    log:
        f"logs/{config['scale']}/tables/surrogate.log",
    params:
        root=f"{SG_RESULTS}/runs",
        lr_experiments=[name for name, e in SURROGATE["experiments"].items() if e["figure"] == "lr"],
    run:
        from spikegrad.studies.surrogate import tables

        tables.write(params.root, input.metrics, input.history, params.lr_experiments, output)


rule fig_surrogate:
    input:
        runs=f"{SG_RESULTS}/tables/runs.csv",
    output:
        report("figures/surrogate/{experiment}.png", caption="../report/surrogate.rst", category="surrogate"),
    log:
        "logs/figures/surrogate/{experiment}.log",
    params:
        kind=lambda wc: SURROGATE["experiments"][wc.experiment]["figure"],
    wildcard_constraints:
        experiment="|".join(SURROGATE["experiments"]),
    run:
        import pandas as pd

        from spikegrad.plots import save
        from spikegrad.studies.surrogate.figures import figure

        save(figure(pd.read_csv(input.runs), params.kind, wildcards.experiment), output[0])


rule fig_surrogate_sensitivity:
    input:
        runs=f"{SG_RESULTS}/tables/runs.csv",
    output:
        report("figures/surrogate/sensitivity.png", caption="../report/surrogate_sensitivity.rst",
               category="surrogate"),
    log:
        "logs/figures/surrogate/sensitivity.log",
    params:
        experiments=SURROGATE["sensitivity"].get(config["scale"], []),
    run:
        import pandas as pd

        from spikegrad.plots import save
        from spikegrad.studies.surrogate.figures import figure

        save(figure(pd.read_csv(input.runs), "sensitivity", experiments=params.experiments), output[0])
