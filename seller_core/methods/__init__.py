"""The registry of explanation methods: every module or subpackage of this package that defines
`METHOD` (an instance of methods.base.Method) is one method, found by listing the package, so adding
a method is adding its module (and its config section): docs/adding-a-method.md. A method's config
schema sits beside it: `<name>.schema.yaml` for a module, `<name>/schema.yaml` for a package.

    from seller_core import methods
    methods.get("pepler")            # the method a name in `methods:` refers to
    methods.of_run("seller_wo_be-s1")  # the method a run name belongs to
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from seller_core.methods.base import Method, parse_run

HERE = Path(__file__).resolve().parent
_REGISTRY: dict[str, Method] | None = None
# results/models/<ds>/<name>/ of the stages that are not explanation methods
RESERVED = frozenset({"sasrec", "eer", "lightgcn"})
# the run `python -m seller_core explain` explains with when --method is not given
DEFAULT_RUN = "seller"


def registry() -> dict[str, Method]:
    """module name -> its METHOD, in module-name order (the order rules are generated in)."""
    global _REGISTRY
    if _REGISTRY is None:
        found = {}
        for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda i: i.name):
            if info.name.startswith("_") or info.name == "base":
                continue
            method = checked(info.name, importlib.import_module(f"{__name__}.{info.name}"))
            if method is not None:
                found[info.name] = method
        _REGISTRY = found
    return _REGISTRY


def checked(name: str, mod) -> Method | None:
    """The METHOD of module `mod` (named `name` in this package) if it is a valid method, None when
    the module defines none; TypeError / ValueError naming the module's file otherwise."""
    method = getattr(mod, "METHOD", None)
    if method is None:
        return None
    if not isinstance(method, Method):
        raise TypeError(f"{mod.__file__}: METHOD must be an instance of seller_core.methods.base.Method, "
                        f"got {type(method).__name__}")
    if name in RESERVED:
        raise ValueError(f"{mod.__file__}: {name!r} is not a method name: results/models/<ds>/{name}/ belongs to "
                         f"another stage ({', '.join(sorted(RESERVED))} are taken)")
    if method.name != name:
        raise ValueError(f"{mod.__file__}: METHOD.name is {method.name!r}; it must be the module's name {name!r} "
                         "(run names, rules and files are derived from it)")
    if method.trains and type(method).train is Method.train:
        raise TypeError(f"{mod.__file__}: {name} declares trains=True but does not define train()")
    if type(method).explain is Method.explain:
        raise TypeError(f"{mod.__file__}: {name} does not define explain()")
    return method


def all_methods() -> list[Method]:
    return list(registry().values())


def of_name(name: str, config: dict) -> Method:
    """The method that answers for method name `name` (no seed tag); KeyError listing the known ones."""
    for m in registry().values():
        if name in m.names(config):
            return m
    known = sorted(n for m in registry().values() for n in m.names(config))
    raise KeyError(f"unknown explanation method {name!r}; known: {', '.join(known)} "
                   f"(a method is a module in {HERE}, docs/adding-a-method.md)")


def of_run(run: str, config: dict) -> Method:
    """The method a run name ('pepler', 'seller_wo_be-s2') belongs to."""
    return of_name(parse_run(run)[0], config)


def for_run(run: str) -> Method:
    """The method of a run name without a config: its module is the name itself or, for a variant
    (`<module>_<variant>`), the longest module name it starts with."""
    name = parse_run(run)[0]
    reg = registry()
    if name in reg:
        return reg[name]
    for m in reg.values():  # methods whose names need no config (the controls)
        try:
            if name in m.names({}):
                return m
        except (KeyError, TypeError):
            pass
    hits = [m for m in reg if name.startswith(m + "_")]
    if not hits:
        raise KeyError(f"no method for run {run!r}: a run is <method>[_<variant>][-s<seed>] and the methods are "
                       f"{', '.join(reg)} ({HERE})")
    return reg[max(hits, key=len)]


def get(name: str) -> Method:
    """The method defined by module `name` (KeyError listing the modules)."""
    reg = registry()
    if name not in reg:
        raise KeyError(f"no method module {name!r} in {HERE}; modules: {', '.join(reg)}")
    return reg[name]


def schema_fragments() -> dict[str, Path]:
    """config section -> the schema file beside the module that declares it."""
    out = {}
    for m in registry().values():
        if m.section:
            package = m.module_path.name == "__init__.py"
            path = m.module_path.parent / "schema.yaml" if package else HERE / f"{m.name}.schema.yaml"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: method {m.name!r} declares config section {m.section!r} "
                                        "but has no schema fragment for it beside its module")
            out[m.section] = path
    return out
