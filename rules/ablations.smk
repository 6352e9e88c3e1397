# Ablations (paper §4.3): Figure 2 (SELLER without a component: seg.variants wo_be, wo_se, wo_ct,
# wo_de) and Table 4 (SEG trained on one GT kind, scored by the EER of that kind). Both reuse every
# artifact the main job built (SASRec, EERs, the full SELLER) and add only the variants' trainings.

ABLATIONS = ["seller", "seller_wo_be", "seller_wo_se", "seller_wo_ct", "seller_wo_de"]
# Table 4 row -> (method, EER kind)
TABLE4_ROWS = {
    "random_category": ("random_category", "category"),
    "category": ("seller_kind_category", "category"),
    "intent": ("seller_kind_intent", "intent"),
    "both": ("seller", "both"),
}


rule fig2_ablation:
    input:
        utility=expand(
            "results/metrics/{ds}/utility/{kind}/{m}.json",
            ds=DATASETS,
            kind=UTILITY_KIND,
            m=ABLATIONS,
        ),
        text=expand("results/metrics/{ds}/text/{m}.json", ds=DATASETS, m=ABLATIONS),
        reference=expand(
            "results/metrics/{ds}/utility/{kind}/empty.json",
            ds=DATASETS,
            kind=UTILITY_KIND,
        ),
        code=code("ablations.py"),
    output:
        png="results/figures/fig2_ablation.png",
        csv="results/figures/fig2_ablation.csv",
    log:
        "results/logs/ablations/fig2.log",
    benchmark:
        "results/benchmarks/ablations/fig2.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        target="fig2",
        datasets=DATASETS,
        methods=ABLATIONS,
    script:
        "../workflow_scripts/ablations.py"


rule table4:
    input:
        utility=[
            f"results/metrics/{ds}/utility/{kind}/{m}.json"
            for ds in DATASETS
            for m, kind in TABLE4_ROWS.values()
        ],
        code=code("ablations.py"),
    output:
        csv="results/tables/table4.csv",
        md="results/tables/table4.md",
    log:
        "results/logs/ablations/table4.log",
    benchmark:
        "results/benchmarks/ablations/table4.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        target="table4",
        datasets=DATASETS,
        rows=list(TABLE4_ROWS),
        formats=canon({n: d["format"] for n, d in config["datasets"].items()}),
    script:
        "../workflow_scripts/ablations.py"
