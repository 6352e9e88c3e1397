"""PEPLER (Li et al. 2023, paper §4.1): learned user/item prompt vectors prepended to the frozen LLM
backbone, [u; i; bos; text] (models/pepler.py, methods/pepler/train.py; docs/baselines.md). Stage 2
(the LM unfrozen) is the switch pepler.stage2."""

from seller_core.methods.base import Method, RowTexts

DATA = "results/data/{ds}"


class PEPLER(Method):
    name = section = "pepler"
    label = "PEPLER"
    trains = uses_llm = True
    run_keys = ("log_every", "generate.batch_size")
    explain_keys = ("generate",)
    train_inputs = {"train": f"{DATA}/samples_train.parquet", "gt": f"{DATA}/gt/explanations.parquet",
                    "users": f"{DATA}/users.parquet", "item_table": f"{DATA}/items.parquet"}
    explain_inputs = {"test": f"{DATA}/samples_test.parquet", "users": f"{DATA}/users.parquet",
                      "item_table": f"{DATA}/items.parquet"}

    def train(self, inputs, outputs, ckpt, settings, run, threads):
        from seller_core.methods.pepler.train import train_pepler_rule

        tracked, control = self.trainer_settings(settings, run)
        train_pepler_rule(inputs, outputs, ckpt, tracked, self.llm_cfg(settings, run), settings["kind"], threads, control)

    def explain(self, inputs, outputs, settings, run, threads):
        from seller_core.methods.pepler.train import explain_pepler_rule

        explain_pepler_rule(inputs, outputs, self.generate_cfg(settings, run), settings["data_source"], threads,
                            run["llm"]["device"])

    def explainer(self, results, dataset, run, device=None, backbone=None, decode="exact"):
        from seller_core.explain.ondemand import generation_settings
        from seller_core.methods.pepler.train import PEPLERExplainer

        f = self.explain_files(results, dataset, run)
        return RowTexts(PEPLERExplainer(f["model"], f["users"], f["item_table"], generation_settings(results, dataset, run), device, backbone, decode))


METHOD = PEPLER()
