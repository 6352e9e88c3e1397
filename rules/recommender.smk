# Recommender stages (paper §3.1.1, §3.2): SASRec pretraining, item-text embeddings, the
# Explanation-Enhanced Recommender per GT kind, and the utility of any method's explanations
# (results/explanations/{ds}/{m}.parquet, written by the rules in rules/methods/) under the shared
# full-ranking protocol. Per-epoch checkpoints live in resources/ckpt/, outside every output,
# so an interrupted training resumes there instead of starting over. Jobs take one thread: the
# models are small, so two datasets in parallel beat two threads per job (and OpenMP with two
# threads on a busy 2-core box is many times slower); raise it with --set-threads on big data.

# What each stage's result depends on; reporting settings (ks, bootstrap) reach only the scorers.
SELECTION = pick("eval", "select_metric", "mask_history")
EVAL_RUN = untracked(
    eval=pick("eval", "batch_size"), embed=pick("embed", "device", "batch_size")
)


rule pretrain_sasrec:
    input:
        interactions="results/data/{ds}/interactions.parquet",
        item_table="results/data/{ds}/items.parquet",
        valid="results/data/{ds}/samples_valid.parquet",
        code=code("pretrain_sasrec.py"),
    output:
        model="results/models/{ds}/sasrec/model.pt",
        history="results/models/{ds}/sasrec/history.json",
    log:
        "results/logs/pretrain_sasrec/{ds}.log",
    benchmark:
        "results/benchmarks/pretrain_sasrec/{ds}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        sasrec=canon(config["sasrec"]),
        eval=SELECTION,
        run=untracked(
            eval=pick("eval", "batch_size"),
            embed=pick("embed", "device", "batch_size"),
            checkpoint=config["checkpoint"],
        ),
        ckpt="resources/ckpt/{ds}/sasrec.pt",
    script:
        "../workflow_scripts/pretrain_sasrec.py"


rule eval_sasrec:
    input:
        model="results/models/{ds}/sasrec/model.pt",
        interactions="results/data/{ds}/interactions.parquet",
        item_table="results/data/{ds}/items.parquet",
        test="results/data/{ds}/samples_test.parquet",
        code=code("eval_sasrec.py"),
    output:
        metrics="results/metrics/{ds}/sasrec.json",
        ranks="results/metrics/{ds}/sasrec.ranks.parquet",
    log:
        "results/logs/eval_sasrec/{ds}.log",
    benchmark:
        "results/benchmarks/eval_sasrec/{ds}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        eval=omit("eval", "batch_size", "select_metric", "paired_references"),
        run=EVAL_RUN,
        data_source=lambda w: data_source(w.ds),
    script:
        "../workflow_scripts/eval_sasrec.py"


rule embed_items:
    input:
        item_table="results/data/{ds}/items.parquet",
        code=code("embed_items.py"),
    output:
        emb="results/data/{ds}/item_text_emb.npy",
        meta="results/data/{ds}/item_text_emb.json",
    log:
        "results/logs/embed_items/{ds}.log",
    benchmark:
        "results/benchmarks/embed_items/{ds}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        embed=pick("embed", "model"),
        run=EVAL_RUN,
    script:
        "../workflow_scripts/embed_items.py"


rule train_eer:
    input:
        sasrec="results/models/{ds}/sasrec/model.pt",
        item_table="results/data/{ds}/items.parquet",
        train="results/data/{ds}/samples_train.parquet",
        valid="results/data/{ds}/samples_valid.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code("train_eer.py"),
    output:
        model="results/models/{ds}/eer/{kind}/model.pt",
        history="results/models/{ds}/eer/{kind}/history.json",
    log:
        "results/logs/train_eer/{ds}_{kind}.log",
    benchmark:
        "results/benchmarks/train_eer/{ds}_{kind}.tsv"
    wildcard_constraints:
        kind=one_of(GT_KINDS),
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        eer=omit("eer", "kinds", "utility_kind"),
        embed=pick("embed", "model"),
        eval=SELECTION,
        run=untracked(
            eval=pick("eval", "batch_size"),
            embed=pick("embed", "device", "batch_size"),
            checkpoint=config["checkpoint"],
        ),
        ckpt="resources/ckpt/{ds}/eer_{kind}.pt",
    script:
        "../workflow_scripts/train_eer.py"


rule score_utility:
    input:
        eer="results/models/{ds}/eer/{kind}/model.pt",
        item_table="results/data/{ds}/items.parquet",
        test="results/data/{ds}/samples_test.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        explanations="results/explanations/{ds}/{m}.parquet",
        code=code("score_utility.py"),
    output:
        metrics="results/metrics/{ds}/utility/{kind}/{m}.json",
        ranks="results/metrics/{ds}/utility/{kind}/{m}.ranks.parquet",
    log:
        "results/logs/score_utility/{ds}_{kind}_{m}.log",
    benchmark:
        "results/benchmarks/score_utility/{ds}_{kind}_{m}.tsv"
    wildcard_constraints:
        kind=one_of(GT_KINDS),
        m=METHOD,
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        embed=pick("embed", "model"),
        eval=omit("eval", "batch_size", "select_metric", "paired_references"),
        run=EVAL_RUN,
        data_source=lambda w: data_source(w.ds),
    script:
        "../workflow_scripts/score_utility.py"


rule compare_utility:
    input:
        # every seed's run of each method: the paired test is on per-case values averaged over seeds
        a=lambda w: expand(
            "results/metrics/{ds}/utility/{kind}/{m}.ranks.parquet",
            ds=w.ds,
            kind=w.kind,
            m=runs_of(w.a),
        ),
        b=lambda w: expand(
            "results/metrics/{ds}/utility/{kind}/{m}.ranks.parquet",
            ds=w.ds,
            kind=w.kind,
            m=runs_of(w.b),
        ),
        code=code("compare_utility.py"),
    output:
        "results/metrics/{ds}/utility/{kind}/paired/{a}/{b}.json",
    log:
        "results/logs/compare_utility/{ds}_{kind}_{a}_{b}.log",
    benchmark:
        "results/benchmarks/compare_utility/{ds}_{kind}_{a}_{b}.tsv"
    wildcard_constraints:
        kind=one_of(GT_KINDS),
        a=METHOD,
        b=METHOD,
    localrule: True
    conda:
        "../envs/torch.yaml"
    params:
        eval=pick("eval", "ks", "bootstrap"),
    script:
        "../workflow_scripts/compare_utility.py"


rule score_text:
    input:
        explanations="results/explanations/{ds}/{m}.parquet",
        test="results/data/{ds}/samples_test.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("score_text.py"),
    output:
        metrics="results/metrics/{ds}/text/{m}.json",
        cases="results/metrics/{ds}/text/{m}.cases.parquet",
    log:
        "results/logs/score_text/{ds}_{m}.log",
    benchmark:
        "results/benchmarks/score_text/{ds}_{m}.tsv"
    wildcard_constraints:
        m=METHOD,
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        text=canon(
            {
                "gt_kind": UTILITY_KIND,
                "bertscore": omit("text_metrics", "device", "batch_size")["bertscore"],
            }
        ),
        bootstrap=pick("eval", "bootstrap")["bootstrap"],
        run=untracked(bertscore=pick("text_metrics", "device", "batch_size")),
        data_source=lambda w: data_source(w.ds),
    script:
        "../workflow_scripts/score_text.py"
