import json
import math
import shlex
from pathlib import Path

from snakemake.utils import Paramspace, validate

from spikegrad.data import SPLITS
from spikegrad.data.published import PUBLISHED
from spikegrad.data.registry import GENERATED, SYNTHESIZED
from spikegrad.sweeps import check_config, check_experiment_datasets, read_sweep, typed

check_config(config, Path(workflow.basedir) / "config/schema.yaml")  # one line naming the entry
validate(config, "../config/schema.yaml")  # fills in the schema's defaults
check_experiment_datasets(config, set(config["datasets"]) | set(PUBLISHED))

SCALE = config["scales"][config["scale"]]
DATA = f"data/{config['scale']}"  # prepared datasets of this scale
RESULTS = f"results/{config['scale']}"  # runs and tables of this scale
BENCHMARKS = f"benchmarks/{config['scale']}"  # one Snakemake benchmark file per job of this scale
TRAIN = Paramspace(read_sweep(SCALE["train_sweep"], sorted(config["datasets"])))
SPOKEN = ("spoken-digits", "spoken-commands")


wildcard_constraints:
    dataset="|".join(config["datasets"]),


def dataset_files(dataset):
    """Prepared split files of an embedded dataset, or the download record of a published one."""
    if dataset in GENERATED or dataset in SYNTHESIZED:
        return expand(f"{DATA}/{dataset}/{{split}}.h5", split=SPLITS)
    return f"{DATA}/{dataset}.downloaded"


def prepare_args(wildcards):
    """Extra arguments of `python -m spikegrad.data prepare` (the spoken sets' sizes at this scale)."""
    if wildcards.dataset in SPOKEN and SCALE["spoken_sizes"] is not None:
        return shlex.join(["--sizes", json.dumps(SCALE["spoken_sizes"])])
    return ""


def train_notebook_args(wildcards):
    """papermill arguments for one training run: the sweep row, the dataset's settings and the scale's."""
    run = typed(TRAIN.instance(wildcards))
    settings = config["datasets"][run["dataset"]]
    parameters = {
        **settings,
        "dataset": run["dataset"],
        "lr": run["lr"],
        "seed": run["seed"],
        "epochs": SCALE["epochs"],
        "max_train": SCALE["max_train"],
        "device": config["device"],
        "data_root": DATA,
        "out_dir": f"{RESULTS}/train/{TRAIN.wildcard_pattern.format(**wildcards)}",
        "progress": False,
    }
    return shlex.join(["-y", json.dumps(parameters)])


def get_final_outputs():
    return [
        "figures/foundation/accuracy_vs_lr.png",
        "figures/foundation/learning_curves.png",
        *[f"figures/datasets/{name}_samples.png" for name in SPOKEN],
    ]
