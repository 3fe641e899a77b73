# EventProp study (Nowotny, Turner & Knight): training runs from the scale's sweep, tables, figures/eventprop/.
from spikegrad.sweeps import read_eventprop_sweep

EVENTPROP = config["eventprop"]
EP_RUNS = read_eventprop_sweep(
    EVENTPROP["sweeps"][config["scale"]], EVENTPROP["experiments"], EVENTPROP["augmentations"]
)
EP = Paramspace(EP_RUNS)
EP_RESULTS = f"{RESULTS}/eventprop"
EP_EXPERIMENTS = sorted(set(EP_RUNS["experiment"]))


def eventprop_settings(run):
    """The experiment's notebook parameters with the run's loss-specific overrides."""
    experiment = EVENTPROP["experiments"][run["experiment"]]
    settings = {k: v for k, v in experiment.items() if k not in ("by_loss", "figure")}
    settings.update(experiment.get("by_loss", {}).get(run["loss"], {}))
    return settings


def eventprop_data(wildcards):
    """The data files of the run's experiment (:func:`dataset_files`)."""
    return dataset_files(EVENTPROP["experiments"][EP.instance(wildcards)["experiment"]]["dataset"])


def eventprop_notebook_args(wildcards):
    run = typed(EP.instance(wildcards))
    parameters = {
        **eventprop_settings(run),
        "engine": "eventprop",
        "loss": run["loss"],
        "recurrent": run["recurrent"],
        "augment": EVENTPROP["augmentations"][run["augment"]],
        "lr": run["lr"],
        "epochs": run["epochs"],
        "seed": run["seed"],
        "max_train": SCALE["max_train"],
        "device": config["device"],
        "data_root": DATA,
        "out_dir": f"{EP_RESULTS}/runs/{EP.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    return shlex.join(["-y", json.dumps(parameters)])


def eventprop_selected(**entries):
    """Run folders of the sweep rows whose typed columns (:func:`spikegrad.sweeps.typed`) equal ``entries``."""
    rows = [row for row in EP_RUNS.to_dict("records") if entries.items() <= typed(row).items()]
    return [f"{EP_RESULTS}/runs/{EP.wildcard_pattern.format(**row)}" for row in rows]


def eventprop_outputs():
    outputs = [f"figures/eventprop/{name}.png" for name in EP_EXPERIMENTS]
    flow = EVENTPROP["gradient_flow"].get(config["scale"])
    if flow and eventprop_selected(**flow, loss="sum") and eventprop_selected(**flow, loss="sum_weigh_exp"):
        outputs.append("figures/eventprop/gradient_flow.png")
    deletion = EVENTPROP["deletion"].get(config["scale"], [])
    if deletion and all(name in EP_EXPERIMENTS for name in deletion):
        outputs.append("figures/eventprop/spike_deletion.png")
    return outputs


rule eventprop_train:
    input:
        notebook="notebooks/train.ipynb",
        data=eventprop_data,
    output:
        metrics=f"{EP_RESULTS}/runs/{EP.wildcard_pattern}/metrics.json",
        history=f"{EP_RESULTS}/runs/{EP.wildcard_pattern}/history.csv",
        weights=f"{EP_RESULTS}/runs/{EP.wildcard_pattern}/weights.safetensors",
        notebook=f"{EP_RESULTS}/runs/{EP.wildcard_pattern}/train.ipynb",
    benchmark:
        f"{BENCHMARKS}/eventprop_train/{EP.wildcard_pattern}.tsv",
    log:
        f"logs/{config['scale']}/eventprop/{EP.wildcard_pattern}.log",
    params:
        args=eventprop_notebook_args,
    threads: 1
    resources:
        runtime=60 * 12,
        mem_mb=8000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.notebook {input.notebook} {output.notebook} --no-progress {params.args} > {log} 2>&1"


rule table_eventprop:
    input:
        metrics=expand(f"{EP_RESULTS}/runs/{{params}}/metrics.json", params=EP.instance_patterns),
        history=expand(f"{EP_RESULTS}/runs/{{params}}/history.csv", params=EP.instance_patterns),
    output:
        runs=f"{EP_RESULTS}/tables/runs.csv",
        history=f"{EP_RESULTS}/tables/history.csv",
        summary=f"{EP_RESULTS}/tables/summary.csv",
    log:
        f"logs/{config['scale']}/tables/eventprop.log",
    params:
        root=f"{EP_RESULTS}/runs",
    run:
        from spikegrad.studies.eventprop import tables

        tables.write(params.root, input.metrics, input.history, output)


rule fig_eventprop:
    input:
        runs=f"{EP_RESULTS}/tables/runs.csv",
        history=f"{EP_RESULTS}/tables/history.csv",
    output:
        report("figures/eventprop/{experiment}.png", caption="../report/eventprop.rst", category="eventprop"),
    log:
        "logs/figures/eventprop/{experiment}.log",
    params:
        kind=lambda wc: EVENTPROP["experiments"][wc.experiment]["figure"],
    wildcard_constraints:
        experiment="|".join(EVENTPROP["experiments"]),
    run:
        import pandas as pd

        from spikegrad.plots import save
        from spikegrad.studies.eventprop.figures import experiment_figure

        runs, history = pd.read_csv(input.runs), pd.read_csv(input.history)
        save(experiment_figure(runs, history, wildcards.experiment, params.kind), output[0])


rule fig_eventprop_gradient_flow:
    input:
        sum=lambda wc: [f"{d}/weights.safetensors" for d in eventprop_selected(
            **EVENTPROP["gradient_flow"][config["scale"]], loss="sum")],
        shaped=lambda wc: [f"{d}/weights.safetensors" for d in eventprop_selected(
            **EVENTPROP["gradient_flow"][config["scale"]], loss="sum_weigh_exp")],
    output:
        figure=report("figures/eventprop/gradient_flow.png", caption="../report/eventprop_gradient_flow.rst",
                      category="eventprop"),
        table=f"{EP_RESULTS}/tables/gradient_flow.csv",
    log:
        "logs/figures/eventprop/gradient_flow.log",
    params:
        data_root=DATA,
    run:
        from spikegrad.plots import save
        from spikegrad.results import write_text
        from spikegrad.studies.eventprop import figures, gradient_flow

        table = gradient_flow.flow_table(input.sum[0], input.shaped[0], params.data_root)
        write_text(output.table, table.to_csv(index=False))
        save(figures.gradient_flow(table), output.figure)


rule fig_eventprop_deletion:
    input:
        history=f"{EP_RESULTS}/tables/history.csv",
    output:
        report("figures/eventprop/spike_deletion.png", caption="../report/eventprop_deletion.rst",
               category="eventprop"),
    log:
        "logs/figures/eventprop/spike_deletion.log",
    params:
        experiments=EVENTPROP["deletion"].get(config["scale"]),
    run:
        import pandas as pd

        from spikegrad.plots import save
        from spikegrad.studies.eventprop.figures import spike_deletion

        short, long = params.experiments
        save(spike_deletion(pd.read_csv(input.history), short, long), output[0])
