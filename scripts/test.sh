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
# tests/test_slurm.py brings up a one-node SLURM (scripts/slurm-localhost.sh) and stops it itself;
# should pytest be killed mid-test, stop the daemons here (unless they were running before).
if [ "$(id -u)" -eq 0 ] && ! bash scripts/slurm-localhost.sh status >/dev/null 2>&1; then
    trap 'bash scripts/slurm-localhost.sh stop >/dev/null 2>&1 || true' EXIT
fi
"$bin/pytest" -q "$@"
