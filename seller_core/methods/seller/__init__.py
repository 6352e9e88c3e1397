"""SELLER's Sequence-aware Explanation Generator (paper §3.1, §4.1, App. A.1): the dual-path encoder
and MoE adapter (models/seg.py) whose soft tokens and q/k/v additions go into the frozen LLM
(llm/inject.py), trained by methods/seller/train.py, explaining through methods/seller/explain.py. Its config
section is `seg`; each entry v of seg.variants other than `full` is the method seller_v (the
ablations of Fig. 2 and Table 4), trained and explained like seller itself."""

from seller_core.methods.base import Method, canon, parse_run

DATA = "results/data/{ds}"
SEQUENCE_INPUTS = {"sasrec": "results/models/{ds}/sasrec/model.pt", "item_table": f"{DATA}/items.parquet",
                   "item_text_emb": f"{DATA}/item_text_emb.npy",
                   "category_texts": f"{DATA}/category_texts.parquet", "gt": f"{DATA}/gt/explanations.parquet"}


class SELLER(Method):
    name = "seller"
    label = "SELLER"
    section = "seg"
    trains = uses_llm = True
    run_keys = ("log_every", "generate.batch_size")
    explain_keys = ("generate",)
    other_keys = ("variants",)  # resolved per run below
    train_inputs = {**SEQUENCE_INPUTS, "train": f"{DATA}/samples_train.parquet"}
    explain_inputs = {**SEQUENCE_INPUTS, "test": f"{DATA}/samples_test.parquet"}

    def names(self, config):
        return [self.name] + [f"{self.name}_{v}" for v in config["seg"]["variants"] if v != "full"]

    def variant(self, run: str) -> str:
        name = parse_run(run)[0]
        return "full" if name == self.name else name[len(self.name) + 1:]

    def train_settings(self, config, run):
        model, _, _ = self.split(config)
        seg = {**model, **config["seg"]["variants"].get(self.variant(run), {}), "seed": self.seed(run, config)}
        return canon({"seg": seg, "llm": {k: config["llm"][k] for k in ("source", "dtype")}})

    def explain_settings(self, config, run):
        return canon({**super().explain_settings(config, run), "variant": self.variant(run)})

    def train(self, inputs, outputs, ckpt, settings, run, threads):
        from seller_core.methods.seller.train import train_seg_rule

        tracked, control = self.trainer_settings(settings, run)
        train_seg_rule(inputs, outputs, ckpt, tracked, self.llm_cfg(settings, run), threads, control)

    def explain(self, inputs, outputs, settings, run, threads):
        from seller_core.methods.seller.explain import explain_seller_rule

        explain_seller_rule(inputs, outputs, self.generate_cfg(settings, run), settings["variant"], settings["run"],
                            settings["data_source"], threads, run["llm"]["device"])

    def explainer(self, results, dataset, run, device=None, backbone=None, decode="exact"):
        from seller_core.explain.ondemand import generation_settings
        from seller_core.methods.seller.explain import SEGRows

        return SEGRows(self.explain_files(results, dataset, run), generation_settings(results, dataset, run), device,
                       backbone, decode)


def seg_section(config: dict, variant: str = "full", seed: int | None = None) -> dict:
    """The `seg` section of one variant and seed as SELLER's train rule hands it to train_seg, with
    log_every (run control) in it: for bench scripts that call the trainer directly."""
    m = METHOD
    run = m.name if variant == "full" else f"{m.name}_{variant}"
    seg = m.train_settings(config, run if seed is None else f"{run}-s{seed}")["seg"]
    return {**seg, "log_every": config["seg"]["log_every"]}


METHOD = SELLER()
