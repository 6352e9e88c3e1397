# Explanation methods (docs/adding-a-method.md): the train and explain rules of every method in
# seller_core/methods/, generated from its module's declaration (methods/base.py), so a new method is
# its module and its config section, and no rule here names one. Every run (method name, variant,
# seed tag) writes the same files: models/{ds}/{run}/{model.pt,history.json,cost.json} (trained
# methods), explanations/{ds}/{run}.parquet (+ .cost.json for the generators); checkpoints live in
# resources/ckpt/{ds}/{run}.pt, outside every output, so a killed training resumes.
# LLM jobs declare gpu=1 so a cluster profile places them on GPU nodes; the default profile caps gpu
# at 1 globally, so locally they run one at a time (on CPU when there is no GPU). profiles/slurm
# sets their GPU node's CPUs, memory and time per rule name (train_<method>, explain_<method>).


def llm_resources(hours):
    """The one resources definition of an LLM job: small on the bundled backbone, a GPU node's worth
    for a local model directory (the paper's 7B)."""
    return {
        "gpu": 1,
        "mem_mb": 4000 if not LLM_IS_DIR else 40000,
        "runtime": 30 if not LLM_IS_DIR else hours * 60,
    }


def method_code(script, m):
    """The rule's code inputs: the generic script's import closure and its method module's."""
    return sorted(set(code(script)) | set(module_code(m.module_path)))


for _m in REGISTRY.values():
    if _m.trains:

        rule:
            name:
                f"train_{_m.name}"
            input:
                **_m.train_inputs,
                **({"backbone": backbone_input()} if _m.uses_llm else {}),
                code=method_code("train_method.py", _m),
            output:
                model="results/models/{ds}/{run}/model.pt",
                history="results/models/{ds}/{run}/history.json",
                cost="results/models/{ds}/{run}/cost.json",
            log:
                f"results/logs/train_{_m.name}/{{ds}}_{{run}}.log",
            benchmark:
                f"results/benchmarks/train_{_m.name}/{{ds}}_{{run}}.tsv"
            wildcard_constraints:
                run=_m.name_pattern(config),
            conda:
                f"../envs/{_m.env}.yaml"
            threads: LLM_THREADS if _m.uses_llm else 1
            resources:
                **(llm_resources(24) if _m.uses_llm else {}),
            params:
                settings=lambda wc, m=_m: m.train_settings(config, wc.run),
                ckpt="resources/ckpt/{ds}/{run}.pt",
                run=untracked(**_m.run_control(config)),
            script:
                "../workflow_scripts/train_method.py"

    rule:
        name:
            f"explain_{_m.name}"
        input:
            **_m.explain_inputs,
            **({"model": "results/models/{ds}/{run}/model.pt"} if _m.trains else {}),
            **({"backbone": backbone_input()} if _m.uses_llm else {}),
            code=method_code("explain_method.py", _m),
        output:
            **(
                {"cost": "results/explanations/{ds}/{run}.cost.json"}
                if _m.explain_cost
                else {}
            ),
            explanations="results/explanations/{ds}/{run}.parquet",
        log:
            f"results/logs/explain_{_m.name}/{{ds}}_{{run}}.log",
        benchmark:
            f"results/benchmarks/explain_{_m.name}/{{ds}}_{{run}}.tsv"
        wildcard_constraints:
            run=_m.name_pattern(config),
        localrule: _m.local
        conda:
            f"../envs/{_m.env}.yaml"
        threads: LLM_THREADS if _m.uses_llm else 1
        resources:
            **(llm_resources(12) if _m.uses_llm else {}),
        params:
            settings=lambda wc, m=_m: canon(
                {
                    **m.explain_settings(config, wc.run),
                    "run": wc.run,
                    "data_source": data_source(wc.ds),
                }
            ),
            run=untracked(**_m.run_control(config)),
        script:
            "../workflow_scripts/explain_method.py"
