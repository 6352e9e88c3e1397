# The HTML report of a finished run, in the same directory as the run:
#
#   snakemake -s report.smk --cores 1 report_assets
#   snakemake -s report.smk --report results/report.html -- all report_assets
#
# It holds the tables under results/tables/, a per-rule summary of every job's benchmark file,
# bench/scale.py's figures when they exist, the rule graph and Snakemake's runtime statistics,
# each labelled and captioned (report/*.rst). The pipeline itself (Snakefile) is included unchanged.
import glob
import os


include: "Snakefile"


report: "report/workflow.rst"


SCALE = [
    os.path.join(workflow.basedir, "bench/measured", f)
    for f in ("scale.csv", "scale.png")
]
HAVE_SCALE = all(os.path.exists(f) for f in SCALE)


rule report_assets:
    input:
        # Table 1 is always buildable; the other tables are included when a run made them
        tables=lambda w: sorted(
            {"results/tables/table1.csv", *glob.glob("results/tables/*.csv")}
        ),
        benchmarks=lambda w: sorted(
            glob.glob("results/benchmarks/**/*.tsv", recursive=True)
        ),
        scale=SCALE if HAVE_SCALE else [],
    output:
        tables=report(
            directory("results/report/tables"),
            patterns=["{name}.csv"],
            category="Tables",
            caption="report/tables.rst",
            labels={"table": "{name}"},
        ),
        bench_csv=report(
            "results/report/benchmarks.csv",
            category="Benchmarks",
            caption="report/benchmarks_table.rst",
            labels={"item": "per-rule benchmark summary", "type": "table"},
        ),
        bench_png=report(
            "results/report/benchmarks.png",
            category="Benchmarks",
            caption="report/benchmarks_plot.rst",
            labels={"item": "per-rule wall time and peak memory", "type": "figure"},
        ),
        scale=(
            [
                report(
                    "results/report/scale.csv",
                    category="Scale",
                    caption="report/scale.rst",
                    labels={"item": "cost against scale", "type": "table"},
                ),
                report(
                    "results/report/scale.png",
                    category="Scale",
                    caption="report/scale.rst",
                    labels={"item": "cost against scale", "type": "figure"},
                ),
            ]
            if HAVE_SCALE
            else []
        ),
    log:
        "results/logs/report_assets/report_assets.log",
    localrule: True
    conda:
        "envs/data.yaml"
    script:
        "workflow_scripts/report_assets.py"
