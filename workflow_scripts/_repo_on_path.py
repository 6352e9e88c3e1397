"""Put the repository root on sys.path, so `seller_core` imports inside per-rule conda envs too.

Snakemake runs a script with only the script's own folder on sys.path and blocks PYTHONPATH in
conda envs; in the project's venv the package is installed and this changes nothing."""

import sys
from pathlib import Path

_root = str(Path(__file__).resolve().parent.parent)
if _root not in sys.path:
    sys.path.append(_root)
