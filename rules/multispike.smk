# Exact backprop through many spikes per neuron (Bacho & Chu): single- vs multi-spike training runs from the
# scale's sweep, tables, the convergence grid, figures/multispike/.
from spikegrad.sweeps import read_multispike_sweep

MULTISPIKE = config["multispike"]
MS_RUNS = read_multispike_sweep(MULTISPIKE["sweeps"][config["scale"]], MULTISPIKE["experiments"])
MS = Paramspace(MS_RUNS)
MS_RESULTS = f"{RESULTS}/multispike"
MS_FIGURES = ("accuracy", "silent", "spikes", "latency", "time")


def multispike_data(wildcards):
    """The data files of the run's experiment (:func:`dataset_files`)."""
    return dataset_files(MULTISPIKE["experiments"][MS.instance(wildcards)["experiment"]]["dataset"])


def multispike_notebook_args(wildcards):
    run = typed(MS.instance(wildcards))
    settings = {k: v for k, v in MULTISPIKE["experiments"][run["experiment"]].items() if k != "variant"}
    parameters = {
        "max_train": SCALE["max_train"],
        **settings,
        "lr": run["lr"],
        "seed": run["seed"],
        "device": config["device"],
        "data_root": DATA,
        "out_dir": f"{MS_RESULTS}/runs/{MS.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    return shlex.join(["-y", json.dumps(parameters)])


def multispike_outputs():
    return [
        *[f"figures/multispike/{name}.png" for name in MS_FIGURES],
        "figures/multispike/convergence.png",
    ]


rule multispike_train:
    input:
        notebook="notebooks/multispike.ipynb",
        data=multispike_data,
    output:
        metrics=f"{MS_RESULTS}/runs/{MS.wildcard_pattern}/metrics.json",
        history=f"{MS_RESULTS}/runs/{MS.wildcard_pattern}/history.csv",
        weights=f"{MS_RESULTS}/runs/{MS.wildcard_pattern}/weights.safetensors",
        notebook=f"{MS_RESULTS}/runs/{MS.wildcard_pattern}/multispike.ipynb",
    benchmark:
        f"{BENCHMARKS}/multispike_train/{MS.wildcard_pattern}.tsv",
    log:
        f"logs/{config['scale']}/multispike/{MS.wildcard_pattern}.log",
    params:
        args=multispike_notebook_args,
    threads: 1
    resources:
        runtime=60 * 24,
        mem_mb=16000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.notebook {input.notebook} {output.notebook} --no-progress {params.args} > {log} 2>&1"


rule table_multispike:
    input:
        metrics=expand(f"{MS_RESULTS}/runs/{{params}}/metrics.json", params=MS.instance_patterns),
        history=expand(f"{MS_RESULTS}/runs/{{params}}/history.csv", params=MS.instance_patterns),
    output:
        runs=f"{MS_RESULTS}/tables/runs.csv",
        history=f"{MS_RESULTS}/tables/history.csv",
        summary=f"{MS_RESULTS}/tables/summary.csv",
    log:
        f"logs/{config['scale']}/tables/multispike.log",
    params:
        root=f"{MS_RESULTS}/runs",
        experiments={name: {"dataset": e["dataset"], "variant": e["variant"]}
                     for name, e in MULTISPIKE["experiments"].items()},
    run:
        from spikegrad.studies.multispike import tables

        tables.write(params.root, input.metrics, input.history, params.experiments, output)


rule multispike_convergence:
    output:
        table=f"{MS_RESULTS}/convergence.csv",
    benchmark:
        f"{BENCHMARKS}/multispike_convergence.tsv",
    log:
        f"logs/{config['scale']}/multispike/convergence.log",
    params:
        grid=MULTISPIKE["convergence"][config["scale"]],
    threads: 1
    resources:
        runtime=60 * 4,
        mem_mb=8000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.studies.multispike.convergence --out {output.table} --step {params.grid[step]} "
        "--repeats {params.grid[repeats]} --epochs {params.grid[epochs]} > {log} 2>&1"


rule fig_multispike:
    input:
        runs=f"{MS_RESULTS}/tables/runs.csv",
        history=f"{MS_RESULTS}/tables/history.csv",
    output:
        **{name: report(f"figures/multispike/{name}.png", caption=f"../report/multispike_{name}.rst",
                        category="multispike") for name in MS_FIGURES},
    log:
        "logs/figures/multispike/history.log",
    run:
        import pandas as pd

        from spikegrad.studies.multispike import figures

        figures.save_all(pd.read_csv(input.history), pd.read_csv(input.runs), output)


rule fig_multispike_convergence:
    input:
        table=f"{MS_RESULTS}/convergence.csv",
    output:
        report("figures/multispike/convergence.png", caption="../report/multispike_convergence.rst",
               category="multispike"),
    log:
        "logs/figures/multispike/convergence.log",
    run:
        import pandas as pd

        from spikegrad.plots import save
        from spikegrad.studies.multispike.figures import convergence_heatmap

        save(convergence_heatmap(pd.read_csv(input.table)), output[0])
