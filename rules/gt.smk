# Ground truth (paper §3.4, App. A.2): per-category queries from Claude (or the offline stand-in),
# then per-sample explanations. The response cache (gt.cache_path) lies outside every output, so
# deleting or rerunning outputs never throws away paid responses.


rule gt_queries:
    input:
        item_table="results/data/{ds}/items.parquet",
        code=code(
            "gt/generate.py",
            "gt/backends.py",
            "gt/prompts.py",
            "gt/cache.py",
            "data/io.py",
            "errors.py",
        ),
    output:
        "results/data/{ds}/gt/category_queries.parquet",
    log:
        "results/logs/gt_queries/{ds}.log",
    benchmark:
        "results/benchmarks/gt_queries/{ds}.tsv"
    conda:
        "../envs/gt.yaml"
    resources:
        # one Claude client per job (with gt.concurrency requests in flight), so
        # `--resources anthropic_api=N` caps how many datasets query the API at once;
        # the offline backend makes no requests and takes no slot
        anthropic_api=int(config["gt"]["backend"] == "anthropic"),
    params:
        # assembly keys stay out, so editing them does not re-check the cache
        gt={
            k: v
            for k, v in config["gt"].items()
            if k not in ("max_categories", "joiner", "domain")
        },
        domain=lookup(dpath="gt/domain", within=config),
        format=lookup(dpath="datasets/{ds}/format", within=config),
    script:
        "../workflow_scripts/gt_queries.py"


rule gt_assemble:
    input:
        item_table="results/data/{ds}/items.parquet",
        samples=expand(
            "results/data/{{ds}}/samples_{split}.parquet",
            split=["train", "valid", "test"],
        ),
        queries="results/data/{ds}/gt/category_queries.parquet",
        code=code("gt/assemble.py", "data/io.py", "errors.py"),
    output:
        "results/data/{ds}/gt/explanations.parquet",
    log:
        "results/logs/gt_assemble/{ds}.log",
    benchmark:
        "results/benchmarks/gt_assemble/{ds}.tsv"
    conda:
        "../envs/gt.yaml"
    params:
        seed=config["gt"]["seed"],
        max_categories=config["gt"]["max_categories"],
        joiner=config["gt"]["joiner"],
    script:
        "../workflow_scripts/gt_assemble.py"
