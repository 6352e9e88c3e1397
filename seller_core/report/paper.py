"""The paper's published numbers (paper_numbers.yaml beside this module), as tuples per method."""

from __future__ import annotations

from pathlib import Path

import yaml

_FILE = Path(__file__).with_name("paper_numbers.yaml")


def _tuples(node):
    if isinstance(node, dict):
        return {k: _tuples(v) for k, v in node.items()}
    return tuple(node) if isinstance(node, list) else node


PAPER = _tuples(yaml.safe_load(_FILE.read_text(encoding="utf-8")))
