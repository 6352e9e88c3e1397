# XRec (Ma et al. 2024, paper §4.1): LightGCN user/item vectors (rules/lightgcn.smk) -> MoE adapters
# -> soft tokens + q/k/v injection into the frozen LLM backbone (SEG's hooks, rules/seg.smk:
# BACKBONE), with user and item profiles in the prompt; docs/baselines.md. Profiles come from the
# GT backend through its response cache (gt.cache_path, outside every output): a rerun pays nothing.

XREC_KIND = config["xrec"]["text_kind"] or config["eer"]["utility_kind"]
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
        "../../envs/gt.yaml"
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
        "../../workflow_scripts/xrec_profiles.py"


rule train_xrec:
    input:
        backbone=backbone_input(),
        lightgcn="results/models/{ds}/lightgcn/embeddings.npz",
        profiles="results/data/{ds}/xrec/profiles.parquet",
        train="results/data/{ds}/samples_train.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("train_xrec.py"),
    output:
        model="results/models/{ds}/xrec{seedtag}/model.pt",
        history="results/models/{ds}/xrec{seedtag}/history.json",
        cost="results/models/{ds}/xrec{seedtag}/cost.json",
    log:
        "results/logs/train_xrec/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/train_xrec/{ds}{seedtag}.tsv"
    wildcard_constraints:
        seedtag=SEED_TAG,
    conda:
        "../../envs/torch.yaml"
    threads: LLM_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wc: 4000 if not LLM_IS_DIR else 40000,
        runtime=lambda wc: 30 if not LLM_IS_DIR else 24 * 60,
    params:
        xrec=with_seed(
            lambda wc: omit("xrec", "text_kind", "generate", "profiles", "log_every")
        ),
        kind=XREC_KIND,
        llm=pick("llm", "source", "dtype"),
        ckpt="resources/ckpt/{ds}/xrec{seedtag}.pt",
        run=untracked(
            llm={"device": LLM["device"]},
            xrec={**pick("xrec", "log_every"), "checkpoint": config["checkpoint"]},
        ),
    script:
        "../../workflow_scripts/train_xrec.py"


rule explain_xrec:
    input:
        backbone=backbone_input(),
        model="results/models/{ds}/xrec{seedtag}/model.pt",
        lightgcn="results/models/{ds}/lightgcn/embeddings.npz",
        profiles="results/data/{ds}/xrec/profiles.parquet",
        test="results/data/{ds}/samples_test.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("explain_xrec.py"),
    output:
        explanations="results/explanations/{ds}/xrec{seedtag}.parquet",
        cost="results/explanations/{ds}/xrec{seedtag}.cost.json",
    log:
        "results/logs/explain_xrec/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/explain_xrec/{ds}{seedtag}.tsv"
    wildcard_constraints:
        seedtag=SEED_TAG,
    conda:
        "../../envs/torch.yaml"
    threads: LLM_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wc: 4000 if not LLM_IS_DIR else 40000,
        runtime=lambda wc: 30 if not LLM_IS_DIR else 12 * 60,
    params:
        generate=canon(
            {k: v for k, v in config["xrec"]["generate"].items() if k != "batch_size"}
        ),
        data_source=lambda w: data_source(w.ds),
        run=untracked(
            llm={"device": LLM["device"]},
            generate={"batch_size": config["xrec"]["generate"]["batch_size"]},
        ),
    script:
        "../../workflow_scripts/explain_xrec.py"
