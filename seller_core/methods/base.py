"""The explanation-method interface: what every method in seller_core/methods/ declares and does.

RecBole's shape (one model interface behind one trainer) with peft's self-describing configs: a
method is one module here that defines `METHOD = <a Method subclass>()`. Its class attributes tell
the workflow what to build (the files it reads, whether it trains, whether it needs the LLM); its
config section's schema is the file `<module>.schema.yaml` beside it (validated with its defaults
by seller_core.config); its methods train it, explain the test set, and explain any (history,
target) rows on demand. rules/methods.smk generates the train/explain rules of every registered
method; report/ and the CLI look methods up by name. Nothing outside a method's module names it.

Run names. A method `m` answers for the names `m` and, with variants, `m_<variant>` (SELLER's
ablations); a trainable method runs once per top-level seed: the first keeps the name, seed s of
the others is `<name>-s<s>`. Every run's files sit at the same places:
    results/models/{ds}/{run}/model.pt, history.json, cost.json     (trained methods)
    results/explanations/{ds}/{run}.parquet (+ .cost.json)          (every method)
    resources/ckpt/{ds}/{run}.pt                                     (resumable state, not an output)

Settings. A method's section splits once, by the key lists the module declares: `run_keys` are run
control (progress, inference batch size, device: passed untracked, never rerun anything),
`explain_keys` are read only when explaining (generation), the rest changes the trained model.
Heavy imports (torch, transformers) stay inside the methods, so the workflow can import this
package to read the registry without them.
"""

from __future__ import annotations

import copy
import re

SEED_TAG = re.compile(r"-s([0-9]+)$")


def canon(value):
    """`value` with every dict's keys sorted, recursively (Snakemake compares params by repr)."""
    if isinstance(value, dict):
        return {k: canon(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    return value


def split_keys(section: dict, keys) -> tuple[dict, dict]:
    """(section without `keys`, the `keys` of it); a dotted key `a.b` takes b out of section a."""
    rest, taken = copy.deepcopy(section), {}
    for key in keys:
        head, _, sub = key.partition(".")
        if head not in rest:
            continue
        if sub:
            if isinstance(rest[head], dict) and sub in rest[head]:
                taken.setdefault(head, {})[sub] = rest[head].pop(sub)
        else:
            taken[head] = rest.pop(head)
    return rest, taken


def parse_run(run: str) -> tuple[str, int | None]:
    """'seller_wo_be-s2' -> ('seller_wo_be', 2); 'xrec' -> ('xrec', None)."""
    m = SEED_TAG.search(run)
    return (run[: m.start()], int(m.group(1))) if m else (run, None)


class Method:
    """The base of every explanation method. Subclasses set the class attributes and implement
    `explain` (and `train` when `trains`); the rest has working defaults."""

    name: str = ""                 # the module's name: the method's name in `methods:`
    label: str = ""                # how tables and footers call it (e.g. "SELLER")
    section: str | None = None     # its config section (None: none)
    trains: bool = False           # a train rule and a model per run
    uses_llm: bool = False         # reads the frozen backbone: GPU resources, the backbone as input
    local: bool = False            # cheap enough to run on the submitting node (no cluster job)
    env: str = "torch"             # envs/<env>.yaml of its jobs
    run_keys: tuple = ()           # run-control keys of its section (dotted: generate.batch_size)
    explain_keys: tuple = ()       # keys of its section only the explain step reads
    other_keys: tuple = ()         # keys of its section only another rule reads (e.g. XRec's profiles)
    # the files each step reads besides its own model: name -> pattern with {ds}
    train_inputs: dict = {}
    explain_inputs: dict = {}
    # what explaining writes beside the texts (a generator's cost record; None for the controls)
    explain_cost: bool = True

    # ------------------------------------------------------------------ names and runs
    def names(self, config: dict) -> list[str]:
        """Every method name this module answers for (variants included), without seed tags."""
        return [self.name]

    def name_pattern(self, config: dict) -> str:
        """Regex of this module's run names (the rules' wildcard constraint)."""
        names = "|".join(re.escape(n) for n in self.names(config))
        return f"(?:{names})(?:-s[0-9]+)?" if self.trains else f"(?:{names})"

    def runs(self, name: str, config: dict) -> list[str]:
        """The runs of method `name`: one per seed for a trained method, the name alone otherwise."""
        if not self.trains:
            return [name]
        return [name] + [f"{name}-s{s}" for s in config["seeds"][1:]]

    def label_of(self, name: str) -> str:
        """How tables call method `name`: the label for the method itself, the name for a variant."""
        return (self.label or name) if name == self.name else name

    def seed(self, run: str, config: dict) -> int:
        seed = parse_run(run)[1]
        return config["seeds"][0] if seed is None else seed

    # ------------------------------------------------------------------ settings
    def split(self, config: dict) -> tuple[dict, dict, dict]:
        """(model settings, explain settings, run control) of the section, split once."""
        section = (config.get(self.section) or {}) if self.section else {}
        rest, run = split_keys(section, self.run_keys)
        rest, _ = split_keys(rest, self.other_keys)
        model, explain = split_keys(rest, self.explain_keys)
        return model, explain, run

    def train_settings(self, config: dict, run: str) -> dict:
        """What changes the trained model of `run` (a rule's tracked params)."""
        model, _, _ = self.split(config)
        out = {self.section: {**model, "seed": self.seed(run, config)}}
        if "text_kind" in model:  # the GT kind it learns, resolved (null = the EER's)
            del out[self.section]["text_kind"]
            out["kind"] = self.text_kind(config)
        if self.uses_llm:
            out["llm"] = {k: config["llm"][k] for k in ("source", "dtype")}
        return canon(out)

    def explain_settings(self, config: dict, run: str) -> dict:
        """What changes `run`'s explanations besides its model (tracked)."""
        _, explain, _ = self.split(config)
        return canon(explain)

    def run_control(self, config: dict) -> dict:
        """Settings that cannot change a result: the section's run keys, the LLM device, and for a
        trained method the checkpoint cadence."""
        _, _, run = self.split(config)
        out = {self.section: run} if self.section else {}
        if self.uses_llm:
            out["llm"] = {"device": config["llm"]["device"]}
        if self.trains:
            out["checkpoint"] = config["checkpoint"]
        return canon(out)

    def text_kind(self, config: dict) -> str:
        """The GT kind a generator learns: its section's text_kind, or the one the EER scores with."""
        return (config.get(self.section) or {}).get("text_kind") or config["eer"]["utility_kind"]

    def check(self, config: dict) -> None:
        """Cross-section checks the schema cannot express (ValueError naming the keys)."""

    def trainer_settings(self, settings: dict, run: dict) -> tuple[dict, dict]:
        """(tracked, control) as a train rule hands them to its trainer, still apart: the trainer merges
        them once for use and fingerprints `tracked` alone, so no code below re-splits by key lists."""
        control = {k: v for k, v in run.get(self.section, {}).items() if k not in self.explain_keys}
        if "checkpoint" in run:
            control["checkpoint"] = run["checkpoint"]
        return settings[self.section], control

    def llm_cfg(self, settings: dict, run: dict) -> dict:
        return {**settings["llm"], **run["llm"]}

    def generate_cfg(self, settings: dict, run: dict) -> dict:
        return {**settings.get("generate", {}), **run.get(self.section, {}).get("generate", {})}

    # ------------------------------------------------------------------ work
    def train(self, inputs: dict, outputs: dict, ckpt: str, settings: dict, run: dict, threads: int) -> None:
        """Train one run: inputs = train_inputs (+ backbone); outputs = model, history, cost."""
        raise NotImplementedError(f"method {self.name!r} declares trains=True but has no train()")

    def explain(self, inputs: dict, outputs: dict, settings: dict, run: dict, threads: int) -> None:
        """Write the test-set explanations of one run. inputs = explain_inputs (+ model, backbone);
        outputs = explanations (+ cost); settings: explain_settings plus `run` (the run's name) and
        `data_source`."""
        raise NotImplementedError(f"method {self.name!r} has no explain()")

    def explainer(self, results, dataset: str, run: str, device: str | None = None, backbone=None,
                  decode: str = "exact"):
        """An object with `explain(split, rows) -> list[str]` that explains sample rows (sample_id,
        user_id, item_id of samples_<split>.parquet) with the trained artifacts under `results`,
        loaded once: what `python -m seller_core explain --method` calls. decode: the backbone's
        decoding path for LLM methods (llm/int4.py: exact | int4); a method without an LLM refuses
        anything but exact."""
        raise NotImplementedError(f"method {self.name!r} cannot explain on demand")

    @property
    def module_path(self):
        """The file of the module that defines this method (the code its rules depend on)."""
        import sys
        from pathlib import Path

        return Path(sys.modules[type(self).__module__].__file__)

    def model_dir(self, results, dataset: str, run: str):
        from pathlib import Path

        return Path(results) / "models" / dataset / run

    def explain_files(self, results, dataset: str, run: str) -> dict:
        """The explain step's inputs (and model) under a results folder other than ./results: what an
        on-demand explainer opens."""
        from pathlib import Path

        out = {k: Path(results) / p.format(ds=dataset).removeprefix("results/") for k, p in self.explain_inputs.items()}
        if self.trains:
            out["model"] = self.model_dir(results, dataset, run) / "model.pt"
        return out


class RowTexts:
    """The on-demand explainer of a method whose own explainer maps a frame of rows (user_id, item_id)
    to texts (or to (texts, counts)): cases from any split are explained together, in order."""

    def __init__(self, explainer):
        self.explainer = explainer

    def explain(self, cases: list) -> list[dict]:
        import pandas as pd

        df = pd.DataFrame([{"sample_id": int(r["sample_id"]), "user_id": int(r["user_id"]),
                            "item_id": int(r["item_id"])} for _, r in cases])
        texts = self.explainer.explain(df)
        texts = texts[0] if isinstance(texts, tuple) else texts
        return [{"explanation": t} for t in texts]
