# Control explanation methods (paper §4.1): gt (the sample's own GT explanation, an oracle the paper
# does not report), random (the GT explanation of a random training sample) and empty ("").
# gt_<kind> / random_<kind> draw from another GT kind (Table 4's "Random Category" is
# random_category, scored by the category EER); plain gt / random use controls.kind.


rule explain_control:
    input:
        test="results/data/{ds}/samples_test.parquet",
        gt="results/data/{ds}/gt/explanations.parquet",
        code=code("explain_control.py"),
    output:
        "results/explanations/{ds}/{control}.parquet",
    log:
        "results/logs/explain_control/{ds}_{control}.log",
    benchmark:
        "results/benchmarks/explain_control/{ds}_{control}.tsv"
    wildcard_constraints:
        control="empty|(gt|random)(_(category|intent|both))?",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        kind=control_kind,
        seed=config["controls"]["seed"],
        data_source=lambda w: data_source(w.ds),
    script:
        "../../workflow_scripts/explain_control.py"
