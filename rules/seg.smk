# SELLER's Sequence-aware Explanation Generator (paper §3.1, §4.1, App. A.1): the frozen LLM
# backbone (prepared once from the bundled GGUF, or a local HF directory used as is), SEG
# training per variant (full; ablations drop a component, see seg.variants), and the test-set
# explanations scored like every other method. Per-epoch checkpoints live in resources/ckpt/,
# outside every output, so an interrupted training resumes instead of starting over.
# LLM jobs declare gpu=1 so a cluster profile places them on GPU nodes; the default profile
# caps gpu at 1 globally, so locally they simply run one at a time (on CPU when there is no GPU).

if not LLM_IS_DIR:

    rule prepare_backbone:
        input:
            code=code("prepare_backbone.py"),
        output:
            directory(BACKBONE),
        log:
            f"results/logs/prepare_backbone/{LLM['name']}.log",
        benchmark:
            f"results/benchmarks/prepare_backbone/{LLM['name']}.tsv"
        conda:
            "../envs/torch.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=20,
        params:
            source=LLM["source"],
        script:
            "../workflow_scripts/prepare_backbone.py"


rule train_seg:
    input:
        backbone=backbone_input(),
        sasrec="results/models/{ds}/sasrec/model.pt",
        item_table="results/data/{ds}/items.parquet",
        item_text_emb="results/data/{ds}/item_text_emb.npy",
        train="results/data/{ds}/samples_train.parquet",
        category_texts="results/data/{ds}/category_texts.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code("train_seg.py"),
    output:
        model="results/models/{ds}/seg/{variant}{seedtag}/adapter.pt",
        history="results/models/{ds}/seg/{variant}{seedtag}/history.json",
        cost="results/models/{ds}/seg/{variant}{seedtag}/cost.json",
    log:
        "results/logs/train_seg/{ds}_{variant}{seedtag}.log",
    benchmark:
        "results/benchmarks/train_seg/{ds}_{variant}{seedtag}.tsv"
    wildcard_constraints:
        variant=one_of(SEG_VARIANTS),
        seedtag=SEED_TAG,
    conda:
        "../envs/torch.yaml"
    threads: LLM_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wc: 4000 if not LLM_IS_DIR else 40000,
        runtime=lambda wc: 30 if not LLM_IS_DIR else 24 * 60,
    params:
        seg=seg_params,
        llm=pick("llm", "source", "dtype"),
        ckpt="resources/ckpt/{ds}/seg_{variant}{seedtag}.pt",
        run=untracked(
            llm={"device": LLM["device"]},
            seg={
                "log_every": config["seg"]["log_every"],
                "checkpoint": config["checkpoint"],
            },
        ),
    script:
        "../workflow_scripts/train_seg.py"


rule explain_seller:
    input:
        backbone=backbone_input(),
        model=lambda wc: f"results/models/{wc.ds}/seg/{seller_variant(wc)}{wc.seedtag}/adapter.pt",
        sasrec="results/models/{ds}/sasrec/model.pt",
        item_table="results/data/{ds}/items.parquet",
        item_text_emb="results/data/{ds}/item_text_emb.npy",
        test="results/data/{ds}/samples_test.parquet",
        category_texts="results/data/{ds}/category_texts.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code("explain_seller.py"),
    output:
        explanations="results/explanations/{ds}/seller{suffix}{seedtag}.parquet",
        cost="results/explanations/{ds}/seller{suffix}{seedtag}.cost.json",
    log:
        "results/logs/explain_seller/{ds}{suffix}{seedtag}.log",
    benchmark:
        "results/benchmarks/explain_seller/{ds}{suffix}{seedtag}.tsv"
    wildcard_constraints:
        # "" = variant full (method seller); "_wo_be" etc. = method seller_wo_be
        suffix=f"|{one_of([f'_{v}' for v in SEG_VARIANTS if v != 'full'])}",
        seedtag=SEED_TAG,
    conda:
        "../envs/torch.yaml"
    threads: LLM_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wc: 4000 if not LLM_IS_DIR else 40000,
        runtime=lambda wc: 30 if not LLM_IS_DIR else 12 * 60,
    params:
        generate=canon(
            {k: v for k, v in config["seg"]["generate"].items() if k != "batch_size"}
        ),
        variant=seller_variant,
        method=lambda wc: f"seller{wc.suffix}{wc.seedtag}",
        data_source=lambda wc: data_source(wc.ds),
        run=untracked(
            llm={"device": LLM["device"]},
            generate={"batch_size": config["seg"]["generate"]["batch_size"]},
        ),
    script:
        "../workflow_scripts/explain_seller.py"
