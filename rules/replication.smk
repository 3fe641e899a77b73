# The replication table (spikegrad.replication): every headline claim of config/replication.yaml evaluated on this
# scale's results, and where the workflow's time went (per rule, from the jobs' Snakemake benchmark files).
from spikegrad.replication import claim_files, load_claims

CLAIMS = load_claims(Path(workflow.basedir) / "config/replication.yaml")  # a malformed claim stops here


def replication_outputs():
    return [f"{RESULTS}/replication.md", f"{RESULTS}/timing.csv"]


rule replication:
    input:
        [f"{RESULTS}/{name}" for name in claim_files(CLAIMS, config["scale"])],
        claims="config/replication.yaml",
    output:
        markdown=f"{RESULTS}/replication.md",
        table=f"{RESULTS}/replication.csv",
        html=report(f"{RESULTS}/replication.html", caption="../report/replication.rst", category="replication"),
    log:
        f"logs/{config['scale']}/replication.log",
    params:
        root=RESULTS,
        scale=config["scale"],
    run:
        from spikegrad import replication

        replication.write(input.claims, params.root, params.scale, output)


rule timing:
    input:
        # after every study: each job that prepares data, trains or benchmarks has left its benchmark file
        study_outputs(),
        f"{RESULTS}/replication.md",
    output:
        f"{RESULTS}/timing.csv",
    log:
        f"logs/{config['scale']}/timing.log",
    params:
        root=BENCHMARKS,
    run:
        from spikegrad.results import benchmark_times, write_text

        write_text(output[0], benchmark_times(params.root).round(2).to_csv(index=False))
