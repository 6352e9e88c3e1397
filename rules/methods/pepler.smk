# PEPLER (Li et al. 2023, paper §4.1): learned user/item prompt vectors prepended to the frozen LLM
# backbone that SEG uses (rules/seg.smk: BACKBONE), [u; i; bos; text]; docs/baselines.md. Stage 2
# (the LM unfrozen) is the switch pepler.stage2. Per-epoch checkpoints live in resources/ckpt/.

PEPLER_KIND = config["pepler"]["text_kind"] or config["eer"]["utility_kind"]


rule train_pepler:
    input:
        backbone=backbone_input(),
        train="results/data/{ds}/samples_train.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("train_pepler.py"),
    output:
        model="results/models/{ds}/pepler{seedtag}/model.pt",
        history="results/models/{ds}/pepler{seedtag}/history.json",
        cost="results/models/{ds}/pepler{seedtag}/cost.json",
    log:
        "results/logs/train_pepler/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/train_pepler/{ds}{seedtag}.tsv"
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
        pepler=with_seed(
            lambda wc: omit("pepler", "text_kind", "generate", "log_every")
        ),
        kind=PEPLER_KIND,
        llm=pick("llm", "source", "dtype"),
        ckpt="resources/ckpt/{ds}/pepler{seedtag}.pt",
        run=untracked(
            llm={"device": LLM["device"]},
            pepler={**pick("pepler", "log_every"), "checkpoint": config["checkpoint"]},
        ),
    script:
        "../../workflow_scripts/train_pepler.py"


rule explain_pepler:
    input:
        backbone=backbone_input(),
        model="results/models/{ds}/pepler{seedtag}/model.pt",
        test="results/data/{ds}/samples_test.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("explain_pepler.py"),
    output:
        explanations="results/explanations/{ds}/pepler{seedtag}.parquet",
        cost="results/explanations/{ds}/pepler{seedtag}.cost.json",
    log:
        "results/logs/explain_pepler/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/explain_pepler/{ds}{seedtag}.tsv"
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
            {
                k: v
                for k, v in config["pepler"]["generate"].items()
                if k != "batch_size"
            }
        ),
        data_source=lambda w: data_source(w.ds),
        run=untracked(
            llm={"device": LLM["device"]},
            generate={"batch_size": config["pepler"]["generate"]["batch_size"]},
        ),
    script:
        "../../workflow_scripts/explain_pepler.py"
