# Sparse surrogate-gradient backprop (Perez-Nieves & Goodman): dense vs sparse training runs from the scale's
# sweep, the speed and memory benchmark, tables, figures/sparse/.
from spikegrad.sweeps import read_sparse_sweep

SPARSE = config["sparse"]
SP_RUNS = read_sparse_sweep(SPARSE["sweeps"][config["scale"]], SPARSE["experiments"])
SP = Paramspace(SP_RUNS)
SP_RESULTS = f"{RESULTS}/sparse"
SP_FIGURES = ("active_fraction", "parity", "band", "scaling")


def sparse_data(wildcards):
    """The data files of the run's experiment (:func:`dataset_files`)."""
    return dataset_files(SPARSE["experiments"][SP.instance(wildcards)["experiment"]]["dataset"])


def sparse_notebook_args(wildcards):
    run = typed(SP.instance(wildcards))
    parameters = {
        "max_train": SCALE["max_train"],
        **SPARSE["experiments"][run["experiment"]],
        "engine": run["engine"],
        "active_band": None if math.isinf(run["band"]) else run["band"],
        "seed": run["seed"],
        "device": config["device"],
        "data_root": DATA,
        "out_dir": f"{SP_RESULTS}/runs/{SP.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    if config["scale"] == "smoke":
        parameters["epochs"] = SCALE["epochs"]
    return shlex.join(["-y", json.dumps(parameters)])


def sparse_outputs():
    return [f"figures/sparse/{name}.png" for name in SP_FIGURES]


rule sparse_train:
    input:
        notebook="notebooks/train.ipynb",
        data=sparse_data,
    output:
        metrics=f"{SP_RESULTS}/runs/{SP.wildcard_pattern}/metrics.json",
        history=f"{SP_RESULTS}/runs/{SP.wildcard_pattern}/history.csv",
        weights=f"{SP_RESULTS}/runs/{SP.wildcard_pattern}/weights.safetensors",
        notebook=f"{SP_RESULTS}/runs/{SP.wildcard_pattern}/train.ipynb",
    benchmark:
        f"{BENCHMARKS}/sparse_train/{SP.wildcard_pattern}.tsv",
    log:
        f"logs/{config['scale']}/sparse/{SP.wildcard_pattern}.log",
    params:
        args=sparse_notebook_args,
    threads: 1
    resources:
        runtime=60 * 24,
        mem_mb=16000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.notebook {input.notebook} {output.notebook} --no-progress {params.args} > {log} 2>&1"


rule sparse_bench:
    output:
        bench=f"{SP_RESULTS}/bench.json",
    benchmark:
        f"{BENCHMARKS}/sparse_bench.tsv",
    log:
        f"logs/{config['scale']}/sparse/bench.log",
    params:
        b=SPARSE["bench"][config["scale"]],
        sizes=" ".join(str(h) for h in SPARSE["bench"][config["scale"]]["sizes"]),
        bands=" ".join(str(b) for b in SPARSE["bench"][config["scale"]]["bands"]),
        device=config["device"],
    threads: 2
    resources:
        runtime=120,
        mem_mb=32000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.bench.sparse --out {output.bench} "
        "--T {params.b[T]} "
        "--B {params.b[B]} --sizes {params.sizes} --bands {params.bands} --band-hidden {params.b[band_hidden]} "
        "--repeats {params.b[repeats]} --device {params.device} > {log} 2>&1"


rule table_sparse:
    input:
        metrics=expand(f"{SP_RESULTS}/runs/{{params}}/metrics.json", params=SP.instance_patterns),
        history=expand(f"{SP_RESULTS}/runs/{{params}}/history.csv", params=SP.instance_patterns),
    output:
        runs=f"{SP_RESULTS}/tables/runs.csv",
        history=f"{SP_RESULTS}/tables/history.csv",
        summary=f"{SP_RESULTS}/tables/summary.csv",
    log:
        f"logs/{config['scale']}/tables/sparse.log",
    params:
        root=f"{SP_RESULTS}/runs",
        experiments={name: {"dataset": e["dataset"]} for name, e in SPARSE["experiments"].items()},
    run:
        from spikegrad.studies.sparse import tables

        tables.write(params.root, input.metrics, input.history, params.experiments, output)


rule fig_sparse:
    input:
        runs=f"{SP_RESULTS}/tables/runs.csv",
        history=f"{SP_RESULTS}/tables/history.csv",
        bench=f"{SP_RESULTS}/bench.json",
    output:
        **{name: report(f"figures/sparse/{name}.png", caption=f"../report/sparse_{name}.rst", category="sparse")
           for name in SP_FIGURES},
    log:
        "logs/figures/sparse/figures.log",
    run:
        import pandas as pd

        from spikegrad.results import read_json
        from spikegrad.studies.sparse import figures

        figures.save_all(pd.read_csv(input.history), pd.read_csv(input.runs), read_json(input.bench), output)
