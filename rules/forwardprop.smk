# Forward propagation (Lee, Haghighatshoar & Karbasi): gradient agreement of the exact engines and the cost of FP
# against reverse mode, figures/forwardprop/.
FORWARDPROP = config["forwardprop"]
FP_RESULTS = f"{RESULTS}/forwardprop"


def forwardprop_outputs():
    return ["figures/forwardprop/agreement.md", "figures/forwardprop/cost.png"]


rule forwardprop_agreement:
    output:
        table=f"{FP_RESULTS}/agreement.csv",
    benchmark:
        f"{BENCHMARKS}/forwardprop_agreement.tsv",
    log:
        f"logs/{config['scale']}/forwardprop/agreement.log",
    params:
        setting=FORWARDPROP["agreement"][config["scale"]],
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.studies.forwardprop.agreement --out {output.table} "
        "--seeds {params.setting[seeds]} --directions {params.setting[directions]} > {log} 2>&1"


rule forwardprop_bench:
    output:
        bench=f"{FP_RESULTS}/bench.json",
    benchmark:
        f"{BENCHMARKS}/forwardprop_bench.tsv",
    log:
        f"logs/{config['scale']}/forwardprop/bench.log",
    params:
        sizes=" ".join(str(h) for h in FORWARDPROP["bench"][config["scale"]]["sizes"]),
        repeats=FORWARDPROP["bench"][config["scale"]]["repeats"],
        device=config["device"],
    threads: 1
    resources:
        runtime=60,
        mem_mb=16000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.bench.forwardprop --out {output.bench} --sizes {params.sizes} "
        "--repeats {params.repeats} --device {params.device} --dtype float32 > {log} 2>&1"


rule table_forwardprop_agreement:
    input:
        table=f"{FP_RESULTS}/agreement.csv",
    output:
        report("figures/forwardprop/agreement.md", caption="../report/forwardprop_agreement.rst",
               category="forwardprop"),
    log:
        "logs/figures/forwardprop/agreement.log",
    run:
        import pandas as pd

        from spikegrad.results import write_text
        from spikegrad.studies.forwardprop import agreement

        write_text(output[0], agreement.markdown(pd.read_csv(input.table)))


rule fig_forwardprop_cost:
    input:
        bench=f"{FP_RESULTS}/bench.json",
    output:
        report("figures/forwardprop/cost.png", caption="../report/forwardprop_cost.rst", category="forwardprop"),
    log:
        "logs/figures/forwardprop/cost.log",
    run:
        from spikegrad.plots import save
        from spikegrad.results import read_json
        from spikegrad.studies.forwardprop.figures import cost_scaling

        save(cost_scaling(read_json(input.bench)), output[0])
