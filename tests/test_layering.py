"""The package's layers: `llm/` (the frozen backbone, injection, prompts, prefix reuse, generation,
the LM loss) imports nothing from the stages above it, so a method or trainer can be changed
without touching the LLM code. Read from the source (ast), lazy imports inside functions included."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "seller_core"
ABOVE_LLM = ("seller_core.train", "seller_core.explain", "seller_core.methods", "seller_core.eval",
             "seller_core.report")


def imports_of(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_llm_imports_nothing_above_it():
    bad = {f"{p.relative_to(PKG)}: {m}" for p in sorted((PKG / "llm").glob("*.py")) for m in imports_of(p)
           if m.startswith(ABOVE_LLM)}
    assert not bad, sorted(bad)


def test_the_check_sees_a_violation(tmp_path):
    probe = tmp_path / "x.py"
    probe.write_text("def f():\n    from seller_core.train import loop\n")
    assert "seller_core.train" in imports_of(probe)
