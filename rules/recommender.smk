# Recommender stages (paper §3.1.1, §3.2): SASRec pretraining, item-text embeddings, the
# Explanation-Enhanced Recommender per GT kind, the control explanation methods, and the utility
# of any method's explanations (results/explanations/{ds}/{m}.parquet) under the shared
# full-ranking protocol. Per-epoch checkpoints live in resources/ckpt/, outside every output,
# so an interrupted training resumes there instead of starting over. Jobs take one thread: the
# models are small, so two datasets in parallel beat two threads per job (and OpenMP with two
# threads on a busy 2-core box is many times slower); raise it with --set-threads on big data.

RANKING_CODE = ["eval/ranking.py", "train/data_io.py", "data/io.py", "errors.py"]
SASREC_CODE = [
    "models/sasrec.py",
    "train/sasrec_train.py",
    "train/loop.py",
    "train/sequences.py",
]
EER_CODE = SASREC_CODE + ["models/eer.py", "train/eer_train.py", "text/embed.py"]

UTILITY_KIND = config["eer"]["utility_kind"]  # the EER that scores every method
UTILITY_EER = f"results/models/{{ds}}/eer/{UTILITY_KIND}/model.pt"
METHOD = "[A-Za-z0-9][A-Za-z0-9_-]*"  # a method name: no dots or slashes, so paths never overlap


rule pretrain_sasrec:
    input:
        interactions="results/data/{ds}/interactions.parquet",
        item_table="results/data/{ds}/items.parquet",
        valid="results/data/{ds}/samples_valid.parquet",
        code=code(*SASREC_CODE, *RANKING_CODE),
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
        sasrec=config["sasrec"],
        eval=config["eval"],
        ckpt="resources/ckpt/{ds}/sasrec.pt",
    script:
        "../workflow_scripts/pretrain_sasrec.py"


rule eval_sasrec:
    input:
        model="results/models/{ds}/sasrec/model.pt",
        interactions="results/data/{ds}/interactions.parquet",
        item_table="results/data/{ds}/items.parquet",
        test="results/data/{ds}/samples_test.parquet",
        code=code(*SASREC_CODE, *RANKING_CODE, "eval/sasrec_eval.py"),
    output:
        metrics="results/metrics/{ds}/sasrec.json",
        ranks="results/metrics/{ds}/sasrec.ranks.parquet",
    log:
        "results/logs/eval_sasrec/{ds}.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        eval=config["eval"],
    script:
        "../workflow_scripts/eval_sasrec.py"


rule embed_items:
    input:
        item_table="results/data/{ds}/items.parquet",
        code=code("text/embed.py", "train/data_io.py", "data/io.py"),
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
        embed=config["embed"],
    script:
        "../workflow_scripts/embed_items.py"


rule train_eer:
    input:
        sasrec="results/models/{ds}/sasrec/model.pt",
        item_table="results/data/{ds}/items.parquet",
        train="results/data/{ds}/samples_train.parquet",
        valid="results/data/{ds}/samples_valid.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code(*EER_CODE, *RANKING_CODE),
    output:
        model="results/models/{ds}/eer/{kind}/model.pt",
        history="results/models/{ds}/eer/{kind}/history.json",
    log:
        "results/logs/train_eer/{ds}_{kind}.log",
    benchmark:
        "results/benchmarks/train_eer/{ds}_{kind}.tsv"
    wildcard_constraints:
        kind="category|intent|both",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        eer={
            k: v
            for k, v in config["eer"].items()
            if k not in ("kinds", "utility_kind")
        },
        embed=config["embed"],
        eval=config["eval"],
        ckpt="resources/ckpt/{ds}/eer_{kind}.pt",
    script:
        "../workflow_scripts/train_eer.py"


rule explain_control:
    input:
        test="results/data/{ds}/samples_test.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code(
            "explain/controls.py",
            "train/eer_train.py",
            "train/data_io.py",
            "data/io.py",
            "errors.py",
        ),
    output:
        "results/explanations/{ds}/{control}.parquet",
    log:
        "results/logs/explain_control/{ds}_{control}.log",
    wildcard_constraints:
        control="gt|random|empty",
    conda:
        "../envs/torch.yaml"
    params:
        controls=config["controls"],
    script:
        "../workflow_scripts/explain_control.py"


rule score_utility:
    input:
        eer=UTILITY_EER,
        item_table="results/data/{ds}/items.parquet",
        test="results/data/{ds}/samples_test.parquet",
        explanations="results/explanations/{ds}/{m}.parquet",
        code=code(*EER_CODE, *RANKING_CODE, "eval/utility.py"),
    output:
        metrics="results/metrics/{ds}/utility/{m}.json",
        ranks="results/metrics/{ds}/utility/{m}.ranks.parquet",
    log:
        "results/logs/score_utility/{ds}_{m}.log",
    benchmark:
        "results/benchmarks/score_utility/{ds}_{m}.tsv"
    wildcard_constraints:
        m=METHOD,
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        embed=config["embed"],
        eval=config["eval"],
    script:
        "../workflow_scripts/score_utility.py"


rule compare_utility:
    input:
        a="results/metrics/{ds}/utility/{a}.ranks.parquet",
        b="results/metrics/{ds}/utility/{b}.ranks.parquet",
        code=code("eval/utility.py", *RANKING_CODE),
    output:
        "results/metrics/{ds}/utility/paired/{a}/{b}.json",
    log:
        "results/logs/compare_utility/{ds}_{a}_{b}.log",
    wildcard_constraints:
        a=METHOD,
        b=METHOD,
    conda:
        "../envs/torch.yaml"
    params:
        eval=config["eval"],
    script:
        "../workflow_scripts/compare_utility.py"
