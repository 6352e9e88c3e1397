# Config validation and the input/params functions the rules share. No rules here.
#
# Exact reruns (docs/ARCHITECTURE.md, "What reruns what"): a rule's `params:` carry exactly the
# settings that change its output, in canonical form (`canon`: key order never matters). Settings
# that cannot change a result (spending caps, concurrency, retries, timeouts, devices, inference
# batch sizes) reach the script through `untracked(...)`, which Snakemake's params trigger does not
# record. The seller_core modules a script imports are inputs (`code`), computed from the script's
# real import closure, so editing a module reruns exactly the jobs that import it.
import ast
import copy
import os
import re
from types import SimpleNamespace

from seller_core import methods as methods_registry
from seller_core.config import ConfigError, validate_config
from seller_core.methods.base import canon

# Per-dataset `preprocess` overrides as the user wrote them: validation fills schema defaults into
# every section, which would make an override of one key reset its siblings to their defaults.
PREPROCESS_OVERRIDES = {
    name: copy.deepcopy(ds.get("preprocess") or {})
    for name, ds in (config.get("datasets") or {}).items()
    if isinstance(ds, dict)
}

# `--config 'seeds=[0,1,2]'` arrives as strings: seeds are integers
if isinstance(config.get("seeds"), list):
    config["seeds"] = [
        int(s) if isinstance(s, str) and s.strip().isdigit() else s
        for s in config["seeds"]
    ]

# The registry of explanation methods (seller_core/methods/): each module declares its config
# section (schema fragment beside it), its files and its steps; rules/methods.smk makes their rules.
REGISTRY = methods_registry.registry()
for _m in REGISTRY.values():
    if _m.trains and "seed" in (config.get(_m.section) or {}):
        raise ValueError(
            f"config key {_m.section}.seed: the seeds of the trainable methods are the top-level list "
            f"`seeds:` (e.g. seeds: [{config[_m.section]['seed']}]); every such method runs once per seed"
        )

try:
    validate_config(config)
except ConfigError as e:
    raise ValueError(str(e)) from None
for _m in REGISTRY.values():
    _m.check(config)

DATASETS = list(config["datasets"])


def datasets_of(fmt):
    return [name for name, ds in config["datasets"].items() if ds["format"] == fmt]


def one_of(names):
    """Wildcard regex matching exactly these names (a never-matching one when empty)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


wildcard_constraints:
    ds=one_of(DATASETS),


def pick(section, *keys):
    """The named keys of a config section, canonical (for params)."""
    return canon({k: config[section][k] for k in keys})


def omit(section, *keys):
    """A config section without the named keys, canonical (for params)."""
    return canon({k: v for k, v in config[section].items() if k not in keys})


def untracked(**sections):
    """Run-control settings for a script (`snakemake.params.run.<section>`, plain dicts) that must not
    rerun anything when they change. Snakemake records only params of builtin types (persistence:
    _serialize_param_builtin); a SimpleNamespace is not one, so it is handed over but never
    compared. tests/test_reruns.py checks that this stays true."""
    return SimpleNamespace(**canon(sections))


def data_source(ds):
    return "synthetic" if "synthetic" in config["datasets"][ds] else "real"


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preprocess_config(wildcards):
    """The top-level `preprocess` section with the keys the dataset itself overrides merged over it."""
    return deep_merge(config["preprocess"], PREPROCESS_OVERRIDES[wildcards.ds])


def _module_path(name):
    """seller_core.a.b -> its .py file (or package __init__.py), or None when it is not a module."""
    base = os.path.join(workflow.basedir, *name.split("."))
    if os.path.isfile(f"{base}.py"):
        return f"{base}.py"
    if os.path.isfile(os.path.join(base, "__init__.py")):
        return os.path.join(base, "__init__.py")
    return None


def _imported(path):
    """seller_core modules a file imports (anywhere in it: lazy imports count) and the package data
    files it names by string literal (e.g. a translation table beside the module)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    names, data = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            modname = node.module or ""
            if node.level:  # relative: resolve against this file's package
                rel = os.path.relpath(os.path.dirname(path), workflow.basedir).split(
                    os.sep
                )
                pkg = rel[: len(rel) - node.level + 1]
                modname = ".".join(pkg + ([modname] if modname else []))
            names.add(modname)
            names.update(f"{modname}.{a.name}" for a in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "seller_core" in path
        ):
            if re.fullmatch(r"[\w./-]+\.(tsv|csv|json|yaml|txt)", node.value):
                for folder in (
                    os.path.dirname(path),
                    os.path.join(os.path.dirname(path), "resources"),
                ):
                    if os.path.isfile(os.path.join(folder, node.value)):
                        data.add(os.path.join(folder, node.value))
    mods = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != "seller_core":
            continue
        for i in range(
            1, len(parts) + 1
        ):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            p = _module_path(".".join(parts[:i]))
            if p:
                mods.add(p)
    return mods, data


def code(script):
    """The seller_core files (modules and package data) that workflow_scripts/`script` imports,
    directly or not, as inputs of its rule (Snakemake tracks a script's own edits but not its imports).
    """
    path = os.path.join(workflow.basedir, "workflow_scripts", script)
    if not os.path.isfile(path):
        raise ValueError(
            f"code({script!r}): no such file {path}; code() takes the rule's script name "
            "(workflow_scripts/<name>.py) and lists the seller_core files it imports"
        )
    return _closure(path)


def module_code(path):
    """A seller_core module (a method's, which the generic scripts import by name) and what it imports."""
    return _closure(str(path)) + [os.path.relpath(path)]


def _closure(start):
    seen, data = set(), set()
    todo = [start]
    while todo:
        mods, files = _imported(todo.pop())
        data |= files
        todo += sorted(mods - seen)
        seen |= mods
    return sorted(os.path.relpath(p) for p in seen | data)


# Raw inputs: real dumps from config paths, or files generated by synthesize_raw_* in the same format.
RAW_FILES = {
    "yelp": {
        "business": "yelp_academic_dataset_business.json",
        "review": "yelp_academic_dataset_review.json",
    },
    "kuairec": {
        "interactions": "big_matrix.csv",
        "item_categories": "item_categories.csv",
        "captions": "kuairec_caption_category.csv",
    },
}

for _name, _ds in config["datasets"].items():
    for _key in RAW_FILES[_ds["format"]]:
        if "raw" in _ds and not _ds["raw"].get(_key):
            raise ValueError(
                f"config key datasets.{_name}.raw.{_key} is required for format {_ds['format']!r} "
                f"(expected keys: {', '.join(RAW_FILES[_ds['format']])})"
            )


def synthetic_of(fmt):
    return [n for n in datasets_of(fmt) if "synthetic" in config["datasets"][n]]


def raw_inputs(wildcards):
    """Raw files of a dataset; real dumps are ancient() so a re-download does not cascade."""
    ds = config["datasets"][wildcards.ds]
    if "raw" in ds:
        return {key: ancient(ds["raw"][key]) for key in RAW_FILES[ds["format"]]}
    return {
        key: f"results/raw/{wildcards.ds}/{name}"
        for key, name in RAW_FILES[ds["format"]].items()
    }


def synthetic_params(wildcards):
    return canon(config["datasets"][wildcards.ds]["synthetic"])


def ingest_params(wildcards):
    pre = preprocess_config(wildcards)
    fmt = config["datasets"][wildcards.ds]["format"]
    return canon({"on_bad_record": pre["on_bad_record"], **pre["positive"][fmt]})


def split_params(wildcards):
    pre = preprocess_config(wildcards)
    keys = (
        "dedupe",
        "kcore",
        "split",
        "max_history",
        "cold_start",
        "test_subsample",
        "seed",
    )
    return canon({k: pre[k] for k in keys})


# Explanation methods (docs/adding-a-method.md): each is a module of seller_core/methods/ (REGISTRY)
# whose rules (rules/methods.smk) write results/explanations/{ds}/{run}.parquet; `methods:` decides
# which are built, scored and compared.
METHODS = list(config["methods"])
UTILITY_KIND = config["eer"][
    "utility_kind"
]  # the EER that scores methods in the main job
GT_KINDS = ["category", "intent", "both"]
METHOD = "[A-Za-z0-9][A-Za-z0-9_-]*"  # a method name: no dots or slashes, so paths never overlap
# Seeds of the trainable methods: run m (the first seed) and m-s<seed> (the others), each a method of
# its own downstream (explanations, EER scores, text metrics); tables aggregate a method's runs.
SEEDS = list(config["seeds"])


def method_of(name):
    """The registered method answering for a method or run name (ValueError naming the config key)."""
    try:
        return methods_registry.of_run(name, config)
    except KeyError as e:
        raise ValueError(f"config key methods: {e.args[0]}") from None


for _name in METHODS:
    method_of(_name)


def runs_of(m):
    """The run names of method m: one per seed for a trainable method, m alone otherwise."""
    return method_of(m).runs(m, config)


def utility_targets(kind=UTILITY_KIND, methods=None):
    """Metrics of every method (every seed's run) under the `kind` EER, and each reference method
    paired with the rest (over their runs)."""
    methods = METHODS if methods is None else methods
    out = expand(
        "results/metrics/{ds}/utility/{kind}/{m}.json",
        ds=DATASETS,
        kind=kind,
        m=[r for m in methods for r in runs_of(m)],
    )
    for ref in config["eval"]["paired_references"]:
        if ref in methods:
            out += expand(
                "results/metrics/{ds}/utility/{kind}/paired/{a}/{b}.json",
                ds=DATASETS,
                kind=kind,
                a=ref,
                b=[m for m in methods if m != ref],
            )
    return out


def train_cost(ds, run):
    """Where a run's training job records its cost (None: the method trains nothing)."""
    return f"results/models/{ds}/{run}/cost.json" if method_of(run).trains else None


GENERATORS = [m for m in METHODS if method_of(m).trains]


# The frozen LLM every LLM method reads: rules/llm.smk.
LLM = config["llm"]
# LLM jobs run one at a time locally (profiles/default: gpu=1), so each may use two cores (capped
# by --cores): one job with 2 torch threads beats two 1-thread jobs on a 2-core machine
# (docs/seg.md). On SLURM, profiles/slurm sets their CPUs (cpus_per_gpu).
LLM_THREADS = 2
LLM_IS_DIR = not LLM["source"].startswith("bundled:")
BACKBONE = LLM["source"] if LLM_IS_DIR else f"resources/llm/{LLM['name']}"


def backbone_input():
    # a local directory is used as is and never rebuilt: ancient() keeps its mtime from cascading
    return ancient(BACKBONE) if LLM_IS_DIR else BACKBONE
