"""The control explanations (paper §4.1): gt (the sample's own GT explanation, an oracle the paper
does not report), random (the GT explanation of a random training sample) and empty ("").
gt_<kind> / random_<kind> draw from GT kind <kind> (Table 4's "Random Category" is random_category,
scored by the category EER); plain gt / random draw from controls.kind (methods/controls/texts.py)."""

from seller_core.methods.base import Method, canon

KINDS = ("category", "intent", "both")


class Controls(Method):
    name = section = "controls"
    local = True
    env = "data"
    explain_cost = False
    explain_inputs = {"test": "results/data/{ds}/samples_test.parquet", "gt": "results/data/{ds}/gt/explanations.parquet"}

    def names(self, config):
        return ["empty", "gt", "random"] + [f"{c}_{k}" for c in ("gt", "random") for k in KINDS]

    def check(self, config):
        kind, utility = config["controls"]["kind"], config["eer"]["utility_kind"]
        if kind is not None and kind != utility:
            raise ValueError(
                f"config key controls.kind is {kind!r} but eer.utility_kind is {utility!r}: gt and random texts "
                "would be scored by an EER trained on another GT kind. Leave controls.kind unset (it follows "
                "eer.utility_kind) or make them equal.")

    def explain_settings(self, config, run):
        kind = run.partition("_")[2] or config["controls"]["kind"] or config["eer"]["utility_kind"]
        return canon({"kind": kind, "seed": config["controls"]["seed"]})

    def explain(self, inputs, outputs, settings, run, threads):
        from seller_core.methods.controls.texts import explain_control

        name = settings["run"]
        explain_control(name.partition("_")[0], inputs["test"], inputs["gt"], outputs["explanations"],
                        settings["kind"], settings["seed"], settings["data_source"], name=name)


METHOD = Controls()
