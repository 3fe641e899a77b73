import json
import shlex

from snakemake.utils import Paramspace, validate

from spikegrad.sweeps import read_sweep

validate(config, "../config/schema.yaml")

SCALE = config["scales"][config["scale"]]
TRAIN = Paramspace(read_sweep(SCALE["train_sweep"], sorted(config["datasets"])))
SPLITS = ("train", "validation", "test")


def train_notebook_args(wildcards):
    """papermill arguments for one training run: the sweep row, the dataset's settings and the scale's."""
    run = TRAIN.instance(wildcards)
    settings = config["datasets"][run["dataset"]]
    parameters = {
        **settings,
        "dataset": run["dataset"],
        "lr": float(run["lr"]),
        "seed": int(run["seed"]),
        "epochs": SCALE["epochs"],
        "max_train": SCALE["max_train"],
        "device": config["device"],
        "data_root": "data/processed",
        "out_dir": f"results/train/{TRAIN.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    return shlex.join(["-y", json.dumps(parameters)])


def get_final_outputs():
    return [
        "figures/foundation/accuracy_vs_lr.png",
        "figures/foundation/learning_curves.png",
    ]
