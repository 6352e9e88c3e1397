# The two commands of the README. Each sets up ./.venv itself (scripts/bootstrap.sh).
.PHONY: run test venv lock

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

venv:
	bash scripts/bootstrap.sh

# The main job on the embedded default config (offline, CPU).
run: venv
	.venv/bin/snakemake --cores all

# Lint, dry run and the whole pytest suite.
test: venv
	bash scripts/test.sh

# After a change of pyproject.toml's pins: reinstall without the old constraints, then
# rewrite constraints.txt from the venv.
lock:
	bash scripts/lock.sh
