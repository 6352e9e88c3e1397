"""XRec (Ma et al. 2024, paper §4.1): LightGCN user/item vectors (rules/lightgcn.smk) -> MoE
adapters -> soft tokens + q/k/v injection into the frozen LLM backbone (SEG's hooks), with user and
item profiles in the prompt (rules/profiles.smk); models/xrec.py, methods/xrec/train.py,
docs/baselines.md."""

from seller_core.methods.base import Method, RowTexts

DATA = "results/data/{ds}"


class XRec(Method):
    name = section = "xrec"
    label = "XRec"
    trains = uses_llm = True
    run_keys = ("log_every", "generate.batch_size")
    explain_keys = ("generate",)
    other_keys = ("profiles",)  # rule xrec_profiles reads them
    train_inputs = {"lightgcn": "results/models/{ds}/lightgcn/embeddings.npz",
                    "profiles": f"{DATA}/xrec/profiles.parquet", "train": f"{DATA}/samples_train.parquet",
                    "gt": f"{DATA}/gt/explanations.parquet", "users": f"{DATA}/users.parquet",
                    "item_table": f"{DATA}/items.parquet"}
    explain_inputs = {"lightgcn": "results/models/{ds}/lightgcn/embeddings.npz",
                      "profiles": f"{DATA}/xrec/profiles.parquet", "test": f"{DATA}/samples_test.parquet",
                      "users": f"{DATA}/users.parquet", "item_table": f"{DATA}/items.parquet"}

    def train(self, inputs, outputs, ckpt, settings, run, threads):
        from seller_core.methods.xrec.train import train_xrec_rule

        tracked, control = self.trainer_settings(settings, run)
        train_xrec_rule(inputs, outputs, ckpt, tracked, self.llm_cfg(settings, run), settings["kind"], threads, control)

    def explain(self, inputs, outputs, settings, run, threads):
        from seller_core.methods.xrec.train import explain_xrec_rule

        explain_xrec_rule(inputs, outputs, self.generate_cfg(settings, run), settings["data_source"], threads,
                          run["llm"]["device"])

    def explainer(self, results, dataset, run, device=None, backbone=None, decode="exact"):
        from seller_core.explain.ondemand import generation_settings
        from seller_core.methods.xrec.train import XRecExplainer

        f = self.explain_files(results, dataset, run)
        return RowTexts(XRecExplainer(f["model"], f["lightgcn"], f["profiles"], f["users"], f["item_table"], generation_settings(results, dataset, run), device, backbone, decode))


METHOD = XRec()
