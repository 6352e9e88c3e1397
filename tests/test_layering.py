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


def test_the_trainers_import_no_method():
    """train/ is the one trainer every method uses: it knows no method."""
    bad = {f"{p.relative_to(PKG)}: {m}" for p in sorted((PKG / "train").glob("*.py")) for m in imports_of(p)
           if m.startswith("seller_core.methods")}
    assert not bad, sorted(bad)


# Fig. 2 and Table 4 are about SELLER's components by definition (issue 21); they may name its runs
NAMES_ALLOWED = {"report/figures.py", "report/tables.py"}


def method_names() -> set[str]:
    """The trained methods' names and variants (the controls' gt / random / empty are ordinary words
    elsewhere: a probe's share of empty texts, the GT stage's thread names)."""
    from seller_core import methods
    from seller_core.config import load_config

    config = load_config()
    return {n for m in methods.all_methods() if m.trains for n in (m.name, *m.names(config))}


def named_methods(path: Path, names: set[str]) -> set[str]:
    """String literals of a module that are a method's name (how code singles a method out)."""
    return {n.value for n in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names}


def test_no_module_outside_methods_names_a_method():
    names = method_names()
    bad = {f"{p.relative_to(PKG)}: {sorted(hit)}" for p in sorted(PKG.rglob("*.py"))
           if "methods" not in p.relative_to(PKG).parts and str(p.relative_to(PKG)) not in NAMES_ALLOWED
           and (hit := named_methods(p, names))}
    assert not bad, sorted(bad)


def test_the_check_sees_a_violation(tmp_path):
    probe = tmp_path / "x.py"
    probe.write_text("def f():\n    from seller_core.train import loop\n")
    assert "seller_core.train" in imports_of(probe)
    probe.write_text('if method == "pepler":\n    pass\n')
    assert named_methods(probe, method_names()) == {"pepler"}


def test_the_many_small_rules_do_not_import_torch():
    """compare_utility runs once per method pair and dataset (24 jobs in `make run`) and the tables
    once each: importing torch would cost each of them ~2.5 s of a 2-core budget for nothing."""
    import subprocess
    import sys

    code = ("import sys, seller_core.eval.stats, seller_core.report.tables; "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout.strip()
    assert out == "[]", out
