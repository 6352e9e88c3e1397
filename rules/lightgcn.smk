# LightGCN (He et al. 2020) on the training interactions: XRec's collaborative user/item embeddings.


rule train_lightgcn:
    input:
        interactions="results/data/{ds}/interactions.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("train_lightgcn.py"),
    output:
        embeddings="results/models/{ds}/lightgcn/embeddings.npz",
        history="results/models/{ds}/lightgcn/history.json",
    log:
        "results/logs/train_lightgcn/{ds}.log",
    benchmark:
        "results/benchmarks/train_lightgcn/{ds}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        lightgcn=omit("lightgcn", "device"),
        run=untracked(
            lightgcn=pick("lightgcn", "device"), checkpoint=config["checkpoint"]
        ),
        ckpt="resources/ckpt/{ds}/lightgcn.pt",
    script:
        "../workflow_scripts/train_lightgcn.py"
