# PETER (Li et al. 2021, paper §4.1): a Transformer trained from scratch on (user, item) -> GT
# explanation; details in docs/baselines.md. Per-epoch checkpoints live in resources/ckpt/, outside
# every output, so a killed run resumes.

# The GT text PETER learns to write: peter.text_kind, or the kind the EER scores methods with.
PETER_KIND = config["peter"]["text_kind"] or config["eer"]["utility_kind"]
# Run control: reaches the scripts untracked, never reruns anything.
PETER_RUN = ("log_every", "gen_batch_size", "device")


rule train_peter:
    input:
        train="results/data/{ds}/samples_train.parquet",
        valid="results/data/{ds}/samples_valid.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        users="results/data/{ds}/users.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("train_peter.py"),
    output:
        model="results/models/{ds}/peter{seedtag}/model.pt",
        history="results/models/{ds}/peter{seedtag}/history.json",
        cost="results/models/{ds}/peter{seedtag}/cost.json",
    log:
        "results/logs/train_peter/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/train_peter/{ds}{seedtag}.tsv"
    wildcard_constraints:
        seedtag=SEED_TAG,
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        peter=with_seed(lambda wc: omit("peter", "text_kind", *PETER_RUN)),
        kind=PETER_KIND,
        run=untracked(peter=pick("peter", *PETER_RUN)),
        ckpt="resources/ckpt/{ds}/peter{seedtag}.pt",
    script:
        "../../workflow_scripts/train_peter.py"


rule explain_peter:
    input:
        model="results/models/{ds}/peter{seedtag}/model.pt",
        test="results/data/{ds}/samples_test.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code("explain_peter.py"),
    output:
        explanations="results/explanations/{ds}/peter{seedtag}.parquet",
        cost="results/explanations/{ds}/peter{seedtag}.cost.json",
    log:
        "results/logs/explain_peter/{ds}{seedtag}.log",
    benchmark:
        "results/benchmarks/explain_peter/{ds}{seedtag}.tsv"
    wildcard_constraints:
        seedtag=SEED_TAG,
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        data_source=lambda w: data_source(w.ds),
        run=untracked(peter=pick("peter", *PETER_RUN)),
    script:
        "../../workflow_scripts/explain_peter.py"
