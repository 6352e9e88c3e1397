"""Explanations on demand, for any trained method: (user, item) pairs or sample ids explained with
the artifacts under a results folder, the model and the data loaded once. The single-pair command,
its batch form (`--pairs FILE`) and its resident form (`--serve`) all go through `OnDemand.explain`;
the method's module supplies the explainer (methods/base.py: `explainer`), so every method with one
answers the same requests the same way.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from seller_core import methods
from seller_core.data import stage_io
from seller_core.explain.interface import read_provenance
from seller_core.llm.generate import DEFAULT_GENERATE

SPLITS = ("test", "valid", "train")
log = logging.getLogger(__name__)


def generation_settings(results, dataset: str, run: str) -> dict:
    """The generation settings recorded in the run's explanations file (the module defaults when
    there is none yet), so an on-demand text is the one the pipeline writes for that sample."""
    path = Path(results) / "explanations" / dataset / f"{run}.parquet"
    return read_provenance(path).get("generate", DEFAULT_GENERATE) if path.exists() else DEFAULT_GENERATE


class OnDemand:
    def __init__(self, results, dataset: str, run: str = methods.DEFAULT_RUN, device: str | None = None, backbone=None,
                 decode: str = "exact"):
        results = Path(results)
        self.data = data = results / "data" / dataset
        if not data.is_dir():
            raise FileNotFoundError(f"{data}: unknown dataset {dataset!r} (no such directory under {results / 'data'})")
        try:
            self.method = methods.for_run(run)
        except KeyError as e:
            raise FileNotFoundError(e.args[0]) from None
        self.run = run
        self.frames = {s: stage_io.read_parquet(data / f"samples_{s}.parquet", ["sample_id", "user_id", "item_id"])
                       for s in SPLITS}
        self.users = stage_io.read_parquet(data / "users.parquet", ["user_id", "raw_user_id"])
        self.items = stage_io.read_parquet(data / "items.parquet", ["item_id", "raw_item_id", "categories"])
        self.explainer = self.method.explainer(results, dataset, run, device, backbone, decode)
        if decode.endswith("+compile"):
            # compile now, not in the first request: one pair through the compiled verify forward
            t0 = time.perf_counter()
            log.warning("compiling the decode step (torch.compile, once per process: minutes on a small CPU; "
                        "inductor's on-disk cache shortens a restart)")
            self.explain([{"sample_id": int(self.frames[SPLITS[0]]["sample_id"].iloc[0])}])
            log.warning("compiled in %.0f s", time.perf_counter() - t0)

    def locate(self, user=None, item=None, sample_id=None) -> tuple[str, object]:
        """(split, row) of the sample for a raw user/item pair or a sample id; KeyError saying why not."""
        if sample_id is not None:
            for s in SPLITS:
                hit = self.frames[s][self.frames[s]["sample_id"] == int(sample_id)]
                if len(hit):
                    return s, hit.iloc[0]
            raise KeyError(f"sample_id {sample_id} is not a sample of {self.data}")
        if user is None or item is None:
            raise KeyError("a request needs sample_id, or user and item")
        u = self.users[self.users["raw_user_id"] == str(user)]
        if not len(u):
            raise KeyError(f"unknown user {user!r}: not in {self.data / 'users.parquet'} (raw_user_id)")
        i = self.items[self.items["raw_item_id"] == str(item)]
        if not len(i):
            raise KeyError(f"unknown item {item!r}: not in {self.data / 'items.parquet'} (raw_item_id)")
        uid, iid = int(u["user_id"].iloc[0]), int(i["item_id"].iloc[0])
        for s in SPLITS:
            f = self.frames[s]
            hit = f[(f["user_id"] == uid) & (f["item_id"] == iid)]
            if len(hit):
                return s, hit.iloc[-1]  # the latest interaction with that item
        known = {int(x) for s in SPLITS for x in self.frames[s].loc[self.frames[s]["user_id"] == uid, "item_id"]}
        raw = self.items.set_index("item_id").loc[sorted(known)[:10], "raw_item_id"].tolist()
        raise KeyError(f"user {user!r} has no sample with item {item!r} (explanations are post hoc, so the pair must "
                       f"be an interaction with an earlier history); items of this user include {raw}")

    def explain(self, requests: list[dict]) -> list[dict]:
        """One result per request ({"user", "item"} or {"sample_id"}), in order; a request that
        cannot be served gets {"error": why, "request": it} and the others are still explained.
        The texts are generated together, so many requests pay the model's start-up once."""
        out, found = [None] * len(requests), []
        for n, r in enumerate(requests):
            try:
                found.append((n, *self.locate(r.get("user"), r.get("item"), r.get("sample_id"))))
            except KeyError as e:
                out[n] = {"error": e.args[0] if e.args else str(e), "request": r}
        answers = self.explainer.explain([(split, row) for _, split, row in found]) if found else []
        cats = self.items.set_index("item_id")["categories"]
        for (n, split, row), answer in zip(found, answers):
            out[n] = {"method": self.run, "sample_id": int(row["sample_id"]), "split": split,
                      "user_id": int(row["user_id"]), "item_id": int(row["item_id"]),
                      "target_categories": list(cats.loc[int(row["item_id"])]), **answer}
        return out


def explain_one(results, dataset: str, user=None, item=None, sample_id=None, run: str = methods.DEFAULT_RUN,
                device: str | None = None, backbone=None) -> dict:
    """Explain one pair (KeyError / FileNotFoundError saying why it cannot be)."""
    r = OnDemand(results, dataset, run, device, backbone).explain([{"user": user, "item": item, "sample_id": sample_id}])[0]
    if "error" in r:
        raise KeyError(r["error"])
    return r
