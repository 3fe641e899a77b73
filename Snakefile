# spikegrad: reproduce the papers' figures. `snakemake all` runs the scale set in config/config.yaml (quick by
# default); `--config scale=smoke` checks the plumbing in seconds, `scale=paper` needs a GPU.
configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/figures.smk"
include: "rules/eventprop.smk"
include: "rules/surrogate.smk"
include: "rules/multispike.smk"
include: "rules/forwardprop.smk"
include: "rules/sparse.smk"
include: "rules/bench.smk"


def study_outputs():
    """The figures and tables of every study at this scale."""
    return [
        *get_final_outputs(),
        *eventprop_outputs(),
        *surrogate_outputs(),
        *multispike_outputs(),
        *forwardprop_outputs(),
        *sparse_outputs(),
    ]


include: "rules/replication.smk"


rule all:
    input:
        study_outputs(),
        replication_outputs(),
    default_target: True
