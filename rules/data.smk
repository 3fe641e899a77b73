rule prepare_data:
    output:
        expand(f"{DATA}/{{{{dataset}}}}/{{split}}.h5", split=SPLITS),
    params:
        args=prepare_args,
    benchmark:
        f"{BENCHMARKS}/prepare_data/{{dataset}}.tsv",
    log:
        f"logs/{config['scale']}/data/{{dataset}}.log",
    threads: 1
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.data prepare {wildcards.dataset} --root {DATA} {params.args} "
        "> {log} 2>&1"


rule download_data:
    output:
        f"{DATA}/{{dataset}}.downloaded",
    log:
        f"logs/{config['scale']}/data/{{dataset}}_download.log",
    wildcard_constraints:
        dataset="|".join(PUBLISHED),
    shell:
        "python -m spikegrad.data download {wildcards.dataset} --root {DATA} > {output}.part 2> {log} "
        "&& mv {output}.part {output}"
