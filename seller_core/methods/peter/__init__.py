"""PETER (Li et al. 2021, paper §4.1): a Transformer trained from scratch on (user, item) -> GT
explanation (models/peter.py, methods/peter/train.py; docs/baselines.md)."""

from seller_core.methods.base import Method, RowTexts

DATA = "results/data/{ds}"


class PETER(Method):
    name = section = "peter"
    label = "PETER"
    trains = True
    run_keys = ("log_every", "gen_batch_size", "device")
    train_inputs = {"train": f"{DATA}/samples_train.parquet", "valid": f"{DATA}/samples_valid.parquet",
                    "gt": f"{DATA}/gt/explanations.parquet", "users": f"{DATA}/users.parquet",
                    "item_table": f"{DATA}/items.parquet"}
    explain_inputs = {"test": f"{DATA}/samples_test.parquet", "gt": f"{DATA}/gt/explanations.parquet"}

    def train(self, inputs, outputs, ckpt, settings, run, threads):
        from seller_core.methods.peter.train import train_peter_rule

        tracked, control = self.trainer_settings(settings, run)
        train_peter_rule(inputs, outputs, ckpt, tracked, settings["kind"], threads, control)

    def explain(self, inputs, outputs, settings, run, threads):
        from seller_core.methods.peter.train import explain_peter_rule

        r = run["peter"]
        explain_peter_rule(inputs, outputs, self.name, settings["data_source"], r["gen_batch_size"], threads,
                           r["device"])

    def explainer(self, results, dataset, run, device=None, backbone=None, decode="exact"):
        from seller_core.methods.peter.train import PETERExplainer

        if decode != "exact":
            raise ValueError(f"--decode {decode}: PETER is its own small transformer, not an LLM backbone; use --decode exact")
        return RowTexts(PETERExplainer(self.explain_files(results, dataset, run)["model"], device or "cpu"))


METHOD = PETER()
