#!/usr/bin/env bash
# The whole test suite: format and lint checks on the workflow, a timed dry run of the main
# target, then pytest (unit tests and real runs of the DAG on tiny configs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
bin=.venv/bin

echo "== snakefmt --check"
"$bin/snakefmt" --check Snakefile rules/
echo "== snakemake --lint"
"$bin/snakemake" --lint
echo "== snakemake -n (main target)"
TIMEFORMAT='dry run took %R s'
time "$bin/snakemake" -n --quiet all >/dev/null
echo "== pytest"
"$bin/pytest" -q "$@"
