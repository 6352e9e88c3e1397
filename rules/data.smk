# Raw dumps (or generated ones in the same format) -> filtered, split, sample-level parquet.


rule synthesize_raw_yelp:
    input:
        code=code("synthesize_raw.py"),
    output:
        business="results/raw/{ds}/yelp_academic_dataset_business.json",
        review="results/raw/{ds}/yelp_academic_dataset_review.json",
    log:
        "results/logs/synthesize_raw/{ds}.log",
    benchmark:
        "results/benchmarks/synthesize_raw/{ds}.tsv"
    wildcard_constraints:
        ds=one_of(synthetic_of("yelp")),
    conda:
        "../envs/data.yaml"
    params:
        format="yelp",
        synthetic=synthetic_params,
    script:
        "../workflow_scripts/synthesize_raw.py"


rule synthesize_raw_kuairec:
    input:
        code=code("synthesize_raw.py"),
    output:
        interactions="results/raw/{ds}/big_matrix.csv",
        item_categories="results/raw/{ds}/item_categories.csv",
        captions="results/raw/{ds}/kuairec_caption_category.csv",
    log:
        "results/logs/synthesize_raw/{ds}.log",
    benchmark:
        "results/benchmarks/synthesize_raw/{ds}.tsv"
    wildcard_constraints:
        ds=one_of(synthetic_of("kuairec")),
    conda:
        "../envs/data.yaml"
    params:
        format="kuairec",
        synthetic=synthetic_params,
    script:
        "../workflow_scripts/synthesize_raw.py"


rule ingest_yelp:
    input:
        unpack(raw_inputs),
        code=code("ingest.py"),
    output:
        interactions="results/data/{ds}/interactions_raw.parquet",
        item_table="results/data/{ds}/items_raw.parquet",
        stats="results/data/{ds}/ingest_stats.json",
    log:
        "results/logs/ingest/{ds}.log",
    benchmark:
        "results/benchmarks/ingest/{ds}.tsv"
    wildcard_constraints:
        ds=one_of(datasets_of("yelp")),
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        # DuckDB may use 60% of this; past it, it spills to disk (override: --set-resources)
        mem_mb=4000,
    params:
        ingest=ingest_params,
    script:
        "../workflow_scripts/ingest.py"


rule ingest_kuairec:
    input:
        unpack(raw_inputs),
        code=code("ingest.py"),
    output:
        interactions="results/data/{ds}/interactions_raw.parquet",
        item_table="results/data/{ds}/items_raw.parquet",
        stats="results/data/{ds}/ingest_stats.json",
    log:
        "results/logs/ingest/{ds}.log",
    benchmark:
        "results/benchmarks/ingest/{ds}.tsv"
    wildcard_constraints:
        ds=one_of(datasets_of("kuairec")),
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        # DuckDB may use 60% of this; past it, it spills to disk (override: --set-resources)
        mem_mb=4000,
    params:
        ingest=ingest_params,
    script:
        "../workflow_scripts/ingest.py"


# Category names in English before filtering (KuaiRec's are Chinese; Yelp's are English, no stage):
# the shipped table, then preprocess.category_names.missing for names it lacks (`backend`: the GT
# backend translates them in translate_category_names, in the DAG only in that mode). NAME_KEYS:
# the GT settings a translation depends on.
NAME_KEYS = ("backend", "model", "temperature", "max_tokens")


rule translate_categories:
    input:
        item_table="results/data/{ds}/items_raw.parquet",
        # the GT backend's translations of names missing from the table (missing: backend only)
        backend_names=lambda w: (
            f"results/data/{w.ds}/category_names_backend.parquet"
            if preprocess_config(w)["category_names"]["missing"] == "backend"
            else []
        ),
        code=code("translate_categories.py"),
    output:
        item_table="results/data/{ds}/items_en.parquet",
        names="results/data/{ds}/category_names.parquet",
        stats="results/data/{ds}/category_names.json",
    log:
        "results/logs/translate_categories/{ds}.log",
    wildcard_constraints:
        ds=one_of(datasets_of("kuairec")),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        names=lambda w: canon(
            {"missing": preprocess_config(w)["category_names"]["missing"]}
        ),
    script:
        "../workflow_scripts/translate_categories.py"


rule translate_category_names:
    input:
        item_table="results/data/{ds}/items_raw.parquet",
        code=code("translate_category_names.py"),
    output:
        "results/data/{ds}/category_names_backend.parquet",
    log:
        "results/logs/translate_category_names/{ds}.log",
    wildcard_constraints:
        ds=one_of(datasets_of("kuairec")),
    conda:
        "../envs/gt.yaml"
    resources:
        anthropic_api=int(config["gt"]["backend"] == "anthropic"),
    params:
        gt=pick("gt", *NAME_KEYS),
        domain=config["gt"]["domain"]["kuairec"],
        run=untracked(gt=omit("gt", *NAME_KEYS, "domain")),
    script:
        "../workflow_scripts/translate_category_names.py"


rule filter_and_split:
    input:
        interactions="results/data/{ds}/interactions_raw.parquet",
        # KuaiRec: the translated table (English names); Yelp: as ingested (English already)
        item_table=lambda w: (
            f"results/data/{w.ds}/items_en.parquet"
            if config["datasets"][w.ds]["format"] == "kuairec"
            else f"results/data/{w.ds}/items_raw.parquet"
        ),
        code=code("filter_and_split.py"),
    output:
        interactions="results/data/{ds}/interactions.parquet",
        item_table="results/data/{ds}/items.parquet",
        users="results/data/{ds}/users.parquet",
        samples_train="results/data/{ds}/samples_train.parquet",
        samples_valid="results/data/{ds}/samples_valid.parquet",
        samples_test="results/data/{ds}/samples_test.parquet",
        stats="results/data/{ds}/stats.json",
    log:
        "results/logs/filter_and_split/{ds}.log",
    benchmark:
        "results/benchmarks/filter_and_split/{ds}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        split=split_params,
    script:
        "../workflow_scripts/filter_and_split.py"


rule category_sequences:
    input:
        samples=expand(
            "results/data/{{ds}}/samples_{split}.parquet",
            split=["train", "valid", "test"],
        ),
        item_table="results/data/{ds}/items.parquet",
        interactions="results/data/{ds}/interactions.parquet",
        code=code("category_sequences.py"),
    output:
        "results/data/{ds}/category_texts.parquet",
    log:
        "results/logs/category_sequences/{ds}.log",
    benchmark:
        "results/benchmarks/category_sequences/{ds}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        categories=canon(config["categories"]),
    script:
        "../workflow_scripts/category_sequences.py"


rule table1:
    input:
        stats=expand("results/data/{ds}/stats.json", ds=DATASETS),
        code=code("table1.py"),
    output:
        "results/tables/table1.csv",
    log:
        "results/logs/table1/table1.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        datasets=DATASETS,
        formats=canon({n: d["format"] for n, d in config["datasets"].items()}),
        sources=canon({n: data_source(n) for n in DATASETS}),
    script:
        "../workflow_scripts/table1.py"
