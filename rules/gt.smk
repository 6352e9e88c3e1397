# Ground truth (paper §3.4, App. A.2): per-category queries from Claude (or the offline stand-in),
# then per-sample explanations. The response cache (gt.cache_path) lies outside every output, so
# deleting or rerunning outputs never throws away paid responses.


GT_RESULT_KEYS = ("backend", "model", "temperature", "max_tokens", "n_queries", "seed")
GT_ASSEMBLY_KEYS = ("max_categories", "joiner")


rule gt_queries:
    input:
        item_table="results/data/{ds}/items.parquet",
        code=code("gt_queries.py"),
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
        # what the queries depend on; assembly keys stay out, so editing them does not re-check the cache
        gt=pick("gt", *GT_RESULT_KEYS),
        domain=lambda w: config["gt"]["domain"][config["datasets"][w.ds]["format"]],
        # caps, concurrency, retries, timeouts, prices, the cache's place and the API URL change
        # how the queries are obtained, never what they are: changing them reruns nothing
        run=untracked(gt=omit("gt", *GT_RESULT_KEYS, *GT_ASSEMBLY_KEYS, "domain")),
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
        code=code("gt_assemble.py"),
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
