# Raw dumps (or generated ones in the same format) -> filtered, split, sample-level parquet.


rule synthesize_raw_yelp:
    input:
        code=code("data/synth.py"),
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
        code=code("data/synth.py"),
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
        code=code("data/yelp.py", "errors.py", "data/io.py"),
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
        code=code("data/kuairec.py", "data/yelp.py", "errors.py", "data/io.py"),
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


rule filter_and_split:
    input:
        interactions="results/data/{ds}/interactions_raw.parquet",
        item_table="results/data/{ds}/items_raw.parquet",
        code=code("data/split.py", "data/kcore.py", "data/io.py", "errors.py"),
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
        code=code("data/categories.py", "data/io.py"),
    output:
        "results/data/{ds}/category_texts.parquet",
    log:
        "results/logs/category_sequences/{ds}.log",
    benchmark:
        "results/benchmarks/category_sequences/{ds}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        categories=config["categories"],
    script:
        "../workflow_scripts/category_sequences.py"


rule table1:
    input:
        stats=expand("results/data/{ds}/stats.json", ds=DATASETS),
        code=code("data/tables.py"),
    output:
        "results/tables/table1.csv",
    log:
        "results/logs/table1/table1.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        datasets=DATASETS,
        formats={n: d["format"] for n, d in config["datasets"].items()},
        sources={
            n: "raw" if "raw" in d else "synthetic"
            for n, d in config["datasets"].items()
        },
    script:
        "../workflow_scripts/table1.py"
