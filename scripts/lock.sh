#!/usr/bin/env bash
# Write constraints.txt: every package of ./.venv at its installed version (pip freeze).
# Run by `make lock` after a change of pyproject.toml's pins.
# torch's local version tag (+cpu) is dropped: `torch==2.13.0` matches the CPU wheel and
# lets the same file serve a machine whose index names it without the tag.
set -euo pipefail
cd "$(dirname "$0")/.."
# bootstrap installs what pyproject.toml pins (when it changed), without the old constraints
BOOTSTRAP_NO_CONSTRAINTS=1 bash scripts/bootstrap.sh
{
  echo "# Every package of the tested .venv at the version tested (pip freeze, Python 3.11)."
  echo "# scripts/bootstrap.sh installs with -c constraints.txt, so a fresh set-up gets these"
  echo "# transitive versions too, not whatever the registry serves that day. Regenerate after a"
  echo "# dependency change with: make lock"
  .venv/bin/pip freeze --exclude-editable --disable-pip-version-check | sed -E 's/^(torch==[^+]+)\+.*/\1/'
} > constraints.txt.tmp
mv constraints.txt.tmp constraints.txt
echo "lock: constraints.txt pins $(grep -c '==' constraints.txt) packages" >&2
