# The paper's Tables 2, 3 and 5 (results/tables/table{2,3,5}.{csv,md}) from the metrics files of the
# config's `methods:`; each footer names the data and models the numbers came from.


# every seed's run of every method, dataset-major (workflow_scripts/tables.py regroups them)
RUNS = {m: runs_of(m) for m in METHODS}
ALL_RUNS = [r for m in METHODS for r in RUNS[m]]
# the roles methods play in the tables (config `report:`), with their labels from the registry
FOCUS = config["report"]["focus"]
ROLES = canon(
    {
        "focus": FOCUS,
        "baselines": config["report"]["baselines"],
        "reference": config["report"]["cost_reference"],
        "labels": {m: method_of(m).label_of(m) for m in METHODS},
        "llm": [m for m in METHODS if method_of(m).uses_llm],
    }
)


rule table2:
    input:
        utility=expand(
            "results/metrics/{ds}/utility/{kind}/{m}.json",
            ds=DATASETS,
            kind=UTILITY_KIND,
            m=ALL_RUNS,
        ),
        ranks=expand(
            "results/metrics/{ds}/utility/{kind}/{m}.ranks.parquet",
            ds=DATASETS,
            kind=UTILITY_KIND,
            m=ALL_RUNS,
        ),
        paired=expand(
            "results/metrics/{ds}/utility/{kind}/paired/{a}/{b}.json",
            ds=DATASETS,
            kind=UTILITY_KIND,
            a=FOCUS,
            b=[m for m in METHODS if m != FOCUS] if FOCUS in METHODS else [],
        ),
        code=code("tables.py"),
    output:
        csv="results/tables/table2.csv",
        md="results/tables/table2.md",
    log:
        "results/logs/tables/table2.log",
    benchmark:
        "results/benchmarks/tables/table2.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        table="table2",
        roles=ROLES,
        datasets=DATASETS,
        methods=METHODS,
        runs=canon(RUNS),
        formats=canon({n: d["format"] for n, d in config["datasets"].items()}),
        bootstrap=pick("eval", "bootstrap")["bootstrap"],
    script:
        "../workflow_scripts/tables.py"


rule table3:
    input:
        text=expand("results/metrics/{ds}/text/{m}.json", ds=DATASETS, m=ALL_RUNS),
        cases=expand(
            "results/metrics/{ds}/text/{m}.cases.parquet", ds=DATASETS, m=ALL_RUNS
        ),
        code=code("tables.py"),
    output:
        csv="results/tables/table3.csv",
        md="results/tables/table3.md",
    log:
        "results/logs/tables/table3.log",
    benchmark:
        "results/benchmarks/tables/table3.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        table="table3",
        datasets=DATASETS,
        methods=METHODS,
        runs=canon(RUNS),
        formats=canon({n: d["format"] for n, d in config["datasets"].items()}),
        bootstrap=pick("eval", "bootstrap")["bootstrap"],
    script:
        "../workflow_scripts/tables.py"


rule table5:
    input:
        train=[
            train_cost(ds, r) for ds in DATASETS for m in GENERATORS for r in RUNS[m]
        ],
        generate=expand(
            "results/explanations/{ds}/{m}.cost.json",
            ds=DATASETS,
            m=[r for m in GENERATORS for r in RUNS[m]],
        ),
        code=code("tables.py"),
    output:
        csv="results/tables/table5.csv",
        md="results/tables/table5.md",
    log:
        "results/logs/tables/table5.log",
    benchmark:
        "results/benchmarks/tables/table5.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        table="table5",
        roles=ROLES,
        datasets=DATASETS,
        methods=GENERATORS,
        runs=canon({m: RUNS[m] for m in GENERATORS}),
        # for the footer: what ran (PETER trains from scratch; the others share this backbone)
        setting=canon(
            {
                "llm": {k: config["llm"][k] for k in ("name", "source")},
                "data": {ds: data_source(ds) for ds in DATASETS},
                "gt_backend": config["gt"]["backend"],
            }
        ),
    script:
        "../workflow_scripts/tables.py"
