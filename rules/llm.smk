# The frozen LLM backbone every LLM method reads (rules/methods.smk: backbone_input()): prepared once
# from the bundled GGUF, or a local Hugging Face directory used as is (the paper's LLaMA-2-7B).

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
