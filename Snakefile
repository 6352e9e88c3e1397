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


rule all:
    default_target: True
    input:
        "results/tables/table1.csv",
        expand("results/data/{ds}/category_texts.parquet", ds=DATASETS),
        expand("results/data/{ds}/gt/explanations.parquet", ds=DATASETS),
        expand("results/data/{ds}/item_text_emb.npy", ds=DATASETS),
        expand("results/metrics/{ds}/sasrec.json", ds=DATASETS),
        expand(
            "results/models/{ds}/eer/{kind}/model.pt",
            ds=DATASETS,
            kind=config["eer"]["kinds"],
        ),
        expand(
            "results/metrics/{ds}/utility/{m}.json",
            ds=DATASETS,
            m=["gt", "random", "empty"],
        ),
        expand(
            "results/metrics/{ds}/utility/paired/gt/{b}.json",
            ds=DATASETS,
            b=["random", "empty"],
        ),
