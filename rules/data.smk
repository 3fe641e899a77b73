rule prepare_data:
    output:
        expand("data/processed/{{dataset}}/{split}.h5", split=SPLITS),
    log:
        "logs/data/{dataset}.log",
    shell:
        "python -m spikegrad.data prepare {wildcards.dataset} --root data/processed > {log} 2>&1"
