# SELLER: sequence-aware explainable recommendation, from raw dumps to the paper's tables.
# Wiring only: logic lives in seller_core/, adapters in workflow_scripts/, stages in rules/.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless the user gives config files (--configfile config/paper.yaml):
# those replace it rather than being merged into it, so its tiny datasets do not tag along.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/gt.smk"
include: "rules/recommender.smk"
include: "rules/lightgcn.smk"
include: "rules/tables.smk"
include: "rules/ablations.smk"
include: "rules/llm.smk"
include: "rules/profiles.smk"
# every explanation method registered in seller_core/methods/ (docs/adding-a-method.md)
include: "rules/methods.smk"


rule all:
    default_target: True
    input:
        "results/tables/table1.csv",
        expand("results/metrics/{ds}/sasrec.json", ds=DATASETS),
        # what the generators read (until they are part of the main job themselves)
        expand("results/data/{ds}/category_texts.parquet", ds=DATASETS),
        expand("results/data/{ds}/item_text_emb.npy", ds=DATASETS),
        utility_targets(),
        # the main job: the paper's Tables 2, 3 and 5 (Table 5 needs at least one trained generator)
        "results/tables/table2.csv",
        "results/tables/table3.csv",
        *(["results/tables/table5.csv"] if GENERATORS else []),


# Table 4's inputs: the EER of every GT kind scoring every method (a separate target).
rule utility_all_kinds:
    input:
        [utility_targets(kind) for kind in config["eer"]["kinds"]],
