"""Every trainer on the one loop (train/loop.py: fit) survives a SIGKILL at a step inside an epoch,
and one during the checkpoint write: the rerun resumes from its last checkpoint and ends with
bit-identical weights to an uninterrupted run. PETER (SGD, lr decay on a bad epoch, cumulative
patience), the EER (Adam, negatives from the torch stream), SASRec (dropout: the global torch
stream) and LightGCN (negatives from the numpy stream that also shuffled the epoch). SEG and the
toy adapter are in tests/test_step_checkpoints.py.

Each training runs in a subprocess so that the kill is real (no finally, no flush). The kill
comes after the k-th optimizer update (before anything else of that step is saved), or half-way
through the n-th torch.save (the temp file half written)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import json, logging, os, signal, sys
    import numpy as np, torch
    from recommender_fixtures import make_data

    which, ckpt, out, kill_update, kill_save = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)
    every = {"every_steps": 2, "every_minutes": 0}
    updates, saves = [0], [0]
    for cls in (torch.optim.SGD, torch.optim.Adam):
        def make(real):
            def stepped(self, *a, **k):
                r = real(self, *a, **k)
                updates[0] += 1
                if updates[0] == kill_update:
                    os.kill(os.getpid(), signal.SIGKILL)
                return r
            return stepped
        cls.step = make(cls.step)
    real_save = torch.save
    def torn_save(obj, f, *a, **k):
        saves[0] += 1
        if saves[0] == kill_save:
            f.write(b"PK torn")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)
    torch.save = torn_save
    ck = None if ckpt == "-" else ckpt
    EVAL = dict(ks=[10], mask_history=False, batch_size=512, select_metric="ndcg@10")
    inter, items, samples = make_data(n_users=40)
    n_items = len(items)

    if which == "peter":
        import pandas as pd
        from seller_core.methods.peter.train import train_peter
        texts = {0: "great pizza with a crispy crust.", 1: "a quiet cafe.", 2: "cheap tacos open late."}
        rows = [(u, i, texts[i % 3]) for u in range(12) for i in range(6)]
        df = pd.DataFrame(rows, columns=["user_id", "item_id", "text"])
        cfg = dict(emsize=16, n_heads=2, nhid=32, n_layers=1, dropout=0.2, lr=1.0, lr_decay=0.25, clip=1.0,
                   batch_size=8, max_epochs=3, endure=5, max_vocab=40, max_words=6, context_reg=1.0, text_reg=1.0,
                   seed=0, log_every=0, checkpoint=every)
        model, _, history, _ = train_peter(df, df.iloc[:12], cfg, ckpt_path=ck, fp="peter")
    elif which == "sasrec":
        from seller_core.train.sasrec_train import train_sasrec
        cfg = dict(max_len=12, d=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.2, loss="bpr", lr=5e-3,
                   weight_decay=0.0, batch_size=8, max_epochs=2, patience=5, seed=0)
        model, history = train_sasrec(inter, samples["valid"], n_items, cfg, EVAL, ck, "sasrec", checkpoint=every)
    elif which == "eer":
        from seller_core.models.sasrec import SASRec, SASRecConfig
        from seller_core.train.eer_train import train_eer
        torch.manual_seed(0)
        sas = SASRec(SASRecConfig(n_items=n_items, max_len=12, d=16, n_heads=2, d_ff=32, dropout=0.0))
        e = {s: np.random.default_rng(1).normal(size=(len(df), 8)).astype(np.float32) for s, df in samples.items()}
        cfg = dict(hyper_hidden=8, targets=["q", "v"], bias=True, lr=2e-3, weight_decay=0.0, batch_size=32,
                   max_epochs=2, patience=5, seed=0, train_backbone=True)
        model, history = train_eer(sas, samples["train"], e["train"], samples["valid"], e["valid"], cfg, EVAL, ck,
                                   "eer", checkpoint=every)
    elif which == "lightgcn":
        from seller_core.train.lightgcn_train import train_lightgcn
        cfg = dict(d=8, n_layers=2, lr=1e-2, reg=1e-4, batch_size=64, max_epochs=2, patience=5, k=10, seed=0)
        model, history = train_lightgcn(inter, 40, n_items, cfg, ck, "lightgcn", checkpoint=every)
    torch.save = real_save
    torch.save(model.state_dict(), out)
    # every epoch's loss and score, not only the kept (best) weights: a resume that drew other
    # batches or negatives in a later epoch shows here even when an earlier epoch's weights are kept
    history = [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    print(json.dumps({"updates": updates[0], "epochs": cfg["max_epochs"], "history": history}))
''')


def run(tmp_path, which, ckpt, out, kill_update=-1, kill_save=0):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), which, str(ckpt), str(out), str(kill_update), str(kill_save)],
                          cwd=ROOT, env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("which", ["peter", "eer", "sasrec", "lightgcn"])
def test_killed_inside_an_epoch_and_during_a_write_resumes_to_identical_weights(tmp_path, which):
    ref = run(tmp_path, which, "-", tmp_path / "ref.pt")
    assert ref.returncode == 0, ref.stderr[-3000:]
    info = json.loads(ref.stdout.strip().splitlines()[-1])
    updates, epochs = info["updates"], info["epochs"]
    reference = torch.load(tmp_path / "ref.pt")
    per_epoch = updates // epochs  # (no early stop at these settings: every epoch runs)
    assert updates == per_epoch * epochs and per_epoch >= 4, info
    # the third update of the last epoch: its last checkpoint is the one after step 2 of that epoch
    kill_update = (epochs - 1) * per_epoch + 3
    for case, kw in (("step", {"kill_update": kill_update}), ("write", {"kill_save": 4})):
        ckpt, out = tmp_path / f"{case}.ckpt", tmp_path / f"{case}.pt"
        first = run(tmp_path, which, ckpt, out, **kw)
        assert first.returncode == -signal.SIGKILL, (case, first.stderr[-3000:])
        assert ckpt.exists() and not out.exists()
        second = run(tmp_path, which, ckpt, out)
        assert second.returncode == 0, (case, second.stderr[-3000:])
        resumed = re.findall(r"resuming from \S+ (at step (\d+) of epoch \d+|after epoch \d+)", second.stderr)
        assert len(resumed) == 1, (case, second.stderr[-3000:])
        if case == "step":  # the last checkpoint before the kill: step 2 of the last epoch
            assert resumed[0][0] == f"at step 2 of epoch {epochs}", resumed
        got = json.loads(second.stdout.strip().splitlines()[-1])
        assert same(torch.load(out), reference), (which, case)
        assert got["history"] == info["history"], (which, case)
        assert got["updates"] < updates, (which, case)  # it did not redo the steps the checkpoint held
