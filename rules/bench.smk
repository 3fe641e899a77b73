# Performance suite (`snakemake bench`): spikegrad against the peer libraries (optional `bench` extra) on the Open
# Neuromorphic Linear + LIF layer, an SHD-sized training step per gradient engine, and the exact event simulator's
# throughput; JSON in results/<scale>/bench/, figures and a summary table in figures/bench/. Not part of `all`:
# timings belong to the machine they ran on (the JSON and the summary name it and the date).
BENCH = config["bench"][config["scale"]]
BENCH_RESULTS = f"{RESULTS}/bench"
BENCH_FIGURES = ("lif_layer", "training_step")


def _flags(args):
    """Command-line flags of a benchmark from its config block: {"n_in": 700} -> "--n-in 700"."""
    flags = []
    for key, value in args.items():
        values = value if isinstance(value, list) else [value]
        flags.append(" ".join([f"--{key.replace('_', '-')}", *map(str, values)]))
    return " ".join(flags)


rule bench_lif_layer:
    output:
        f"{BENCH_RESULTS}/lif_layer.json",
    log:
        f"logs/{config['scale']}/bench/lif_layer.log",
    params:
        flags=_flags({"n" if k == "sizes" else k: v for k, v in BENCH["lif_layer"].items()}),
        device=config["device"],
    threads: 2
    resources:
        runtime=120,
        mem_mb=16000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.bench.lif_layer --out {output} "
        "{params.flags} --device {params.device} > {log} 2>&1"


rule bench_training_step:
    output:
        f"{BENCH_RESULTS}/training_step.json",
    log:
        f"logs/{config['scale']}/bench/training_step.log",
    params:
        flags=_flags(BENCH["training_step"]),
        device=config["device"],
    threads: 2
    resources:
        runtime=120,
        mem_mb=16000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.bench.training_step "
        "--out {output} {params.flags} --device {params.device} > {log} 2>&1"


rule bench_event_sim:
    output:
        f"{BENCH_RESULTS}/event_sim.json",
    log:
        f"logs/{config['scale']}/bench/event_sim.log",
    params:
        flags=_flags(BENCH["event_sim"]),
        device=config["device"],
    threads: 2
    resources:
        runtime=60,
        mem_mb=8000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.bench.event_sim --out {output} "
        "{params.flags} --device {params.device} > {log} 2>&1"


rule fig_bench:
    input:
        lif_layer=f"{BENCH_RESULTS}/lif_layer.json",
        training_step=f"{BENCH_RESULTS}/training_step.json",
        event_sim=f"{BENCH_RESULTS}/event_sim.json",
    output:
        **{name: report(f"figures/bench/{name}.png", caption=f"../report/bench_{name}.rst", category="bench")
           for name in BENCH_FIGURES},
        summary="figures/bench/summary.md",
    log:
        "logs/figures/bench/figures.log",
    run:
        from spikegrad.bench import figures
        from spikegrad.results import read_json

        figures.write(read_json(input.lif_layer), read_json(input.training_step), read_json(input.event_sim), output)


rule bench:
    input:
        rules.fig_bench.output,
