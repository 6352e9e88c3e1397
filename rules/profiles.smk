# User and item profiles written by the GT backend (XRec's prompt inputs, paper §4.1; settings in
# xrec.profiles), through its response cache (gt.cache_path, outside every output): a rerun pays
# nothing. XRec itself is a method (seller_core/methods/xrec.py); this is a data stage it reads.
# what the profiles depend on: the GT backend's identity (its caps and transport are run control)
XREC_PROFILE_GT = ("backend", "model", "temperature")
XREC_PROFILE_RUN = ("max_requests", "max_cost_usd", "est_output_tokens")


rule xrec_profiles:
    input:
        item_table="results/data/{ds}/items.parquet",
        users="results/data/{ds}/users.parquet",
        interactions="results/data/{ds}/interactions.parquet",
        code=code("xrec_profiles.py"),
    output:
        "results/data/{ds}/xrec/profiles.parquet",
    log:
        "results/logs/xrec_profiles/{ds}.log",
    benchmark:
        "results/benchmarks/xrec_profiles/{ds}.tsv"
    conda:
        "../envs/gt.yaml"
    resources:
        anthropic_api=int(config["gt"]["backend"] == "anthropic"),
    params:
        gt=pick("gt", *XREC_PROFILE_GT),
        profiles=canon(
            {
                k: v
                for k, v in config["xrec"]["profiles"].items()
                if k not in XREC_PROFILE_RUN
            }
        ),
        domain=lambda w: config["gt"]["domain"][config["datasets"][w.ds]["format"]],
        run=untracked(
            gt=omit("gt", *XREC_PROFILE_GT, "domain"),
            profiles={k: config["xrec"]["profiles"][k] for k in XREC_PROFILE_RUN},
        ),
    script:
        "../workflow_scripts/xrec_profiles.py"
