rule train:
    input:
        notebook="notebooks/train.ipynb",
        data=lambda wc: expand(f"{DATA}/{{dataset}}/{{split}}.h5", dataset=wc.dataset, split=SPLITS),
    output:
        metrics=f"{RESULTS}/train/{TRAIN.wildcard_pattern}/metrics.json",
        history=f"{RESULTS}/train/{TRAIN.wildcard_pattern}/history.csv",
        notebook=f"{RESULTS}/train/{TRAIN.wildcard_pattern}/train.ipynb",
    benchmark:
        f"{BENCHMARKS}/train/{TRAIN.wildcard_pattern}.tsv",
    log:
        f"logs/{config['scale']}/train/{TRAIN.wildcard_pattern}.log",
    params:
        args=train_notebook_args,
    threads: 1
    resources:
        runtime=60 * 4,
        mem_mb=4000,
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m spikegrad.notebook {input.notebook} {output.notebook} --no-progress {params.args} > {log} 2>&1"
