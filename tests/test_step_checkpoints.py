"""A training killed (SIGKILL) at a step inside an epoch, or while it writes a checkpoint, resumes
from its last checkpoint and ends with bit-identical weights to an uninterrupted run.

The training runs in a subprocess so that the kill is real: nothing after the signal runs (no
finally, no flush). The toy trainable has dropout (the global torch RNG), a warm-up + cosine
schedule and Adam, so the checkpoint must restore the sample order, the RNG streams, the schedule
and the optimizer for the weights to match."""

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
    import torch
    from seller_core.train.adapter_loop import train_adapter
    from seller_core.train.loop import RNG

    ckpt, out, kill_step, kill_save, every_steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    logging.basicConfig(level=logging.INFO)
    rng = RNG(0)  # before the weights are drawn
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3))
    data = torch.Generator().manual_seed(1)
    X, y = torch.randn(42, 4, generator=data), torch.randint(0, 3, (42,), generator=data)

    def step_loss(idx):
        idx = torch.as_tensor(idx)
        batch = {"attention_mask": torch.ones(len(idx), 5), "labels": torch.zeros(len(idx), 5, dtype=torch.long)}
        return torch.nn.functional.cross_entropy(net(X[idx]), y[idx]), batch

    if kill_save:  # die in the middle of the kill_save-th checkpoint write, the temp file half written
        real_save, calls = torch.save, [0]
        def torn_save(obj, f, *a, **k):
            calls[0] += 1
            if calls[0] == kill_save:
                f.write(b"PK\\x03\\x04 torn")
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *a, **k)
        torch.save = torn_save

    def callback(step):
        if step == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)

    cfg = {"lr": 3e-2, "weight_decay": 0.0, "batch_size": 4, "epochs": 2, "log_every": 100, "warmup_steps": 3,
           "lr_decay": "cosine", "min_lr_ratio": 0.1, "checkpoint": {"every_steps": every_steps, "every_minutes": 0}}
    history, counts = train_adapter(net, len(X), step_loss, cfg, rng, device="cpu", name="toy",
                                    ckpt_path=ckpt if ckpt != "-" else None, fp="toy", callback=callback,
                                    callback_at={kill_step})
    torch.save(net.state_dict(), out)
    json.dump({"history": history, "counts": counts}, open(out + ".json", "w"))
''')


def run(tmp_path, ckpt, out, kill_step=-1, kill_save=0, every_steps=3):
    script = tmp_path / "train_toy.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), str(ckpt), str(out), str(kill_step), str(kill_save),
                           str(every_steps)], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    r = run(tmp, "-", tmp / "ref.pt")
    assert r.returncode == 0, r.stderr
    return torch.load(tmp / "ref.pt")


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# 42 samples / 4 = 11 steps an epoch, 22 in all; checkpoints every 3 steps inside an epoch
@pytest.mark.parametrize("kill_step,kill_save,resumes_at", [
    (8, 0, "at step 6 of epoch 1"),     # killed inside epoch 1, two steps after its last checkpoint
    (16, 0, "at step 3 of epoch 2"),    # step 5 of epoch 2: the order of epoch 2 comes from the checkpoint
    (-1, 3, "at step 6 of epoch 1"),    # killed while writing the step-9 checkpoint: the step-6 one stands
])
def test_killed_run_resumes_to_identical_weights(tmp_path, reference, kill_step, kill_save, resumes_at):
    ckpt, out = tmp_path / "toy.ckpt", tmp_path / "out.pt"
    first = run(tmp_path, ckpt, out, kill_step=kill_step, kill_save=kill_save)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert ckpt.exists() and not out.exists()
    second = run(tmp_path, ckpt, out)
    assert second.returncode == 0, second.stderr
    assert f"resuming from {ckpt} {resumes_at}" in second.stderr
    assert same(torch.load(out), reference)


def test_without_step_checkpoints_a_kill_costs_the_epoch(tmp_path, reference):
    ckpt, out = tmp_path / "toy.ckpt", tmp_path / "out.pt"
    assert run(tmp_path, ckpt, out, kill_step=8, every_steps=0).returncode == -signal.SIGKILL
    assert not ckpt.exists()  # nothing saved inside epoch 1: the control for the test above
    assert run(tmp_path, ckpt, out, kill_step=17, every_steps=0).returncode == -signal.SIGKILL
    second = run(tmp_path, ckpt, out, every_steps=0)
    assert "after epoch 1" in second.stderr and same(torch.load(out), reference)


# ---------------------------------------------------------------- SEG, through its rule
SEG_SCRIPT = textwrap.dedent('''
    import json, logging, os, signal, sys
    import torch
    from seller_core.methods.seller.train import train_seg_rule

    logging.basicConfig(level=logging.INFO)
    args = json.loads(sys.argv[1])
    if args["kill_save"]:  # SIGKILL half-way through the kill_save-th checkpoint (or model) write
        real_save, calls = torch.save, [0]
        def torn_save(obj, f, *a, **k):
            calls[0] += 1
            if calls[0] == args["kill_save"]:
                f.write(b"PK torn")
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *a, **k)
        torch.save = torn_save
    train_seg_rule(args["inp"], args["out"], args["ckpt"], args["cfg"], {"device": "cpu", "dtype": "float32"})
''')


def run_seg(tmp_path, inp, out, ckpt, cfg, kill_save=0):
    script = tmp_path / "train_seg_toy.py"
    script.write_text(SEG_SCRIPT)
    arg = json.dumps({"inp": inp, "out": out, "ckpt": str(ckpt), "cfg": cfg, "kill_save": kill_save})
    return subprocess.run([sys.executable, str(script), arg], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})


@pytest.mark.parametrize("kill_save,resumes", [
    # saves: stage 1 steps 1, 2 (inside its one epoch), 3 (its end); then stage 2 steps 1, 2, 3, ...
    (2, [("SEG stage 1", "at step 1 of epoch 1")]),  # killed writing stage 1's step-2 checkpoint
    (6, [("SEG stage 1", "after epoch 1"), ("SEG", "at step 2 of epoch 1")]),  # ... stage 2's step 3
])
def test_seg_killed_inside_an_epoch_resumes_to_identical_weights(tmp_path, kill_save, resumes):
    from seg_fixtures import make_dataset, save_backbone, seg_cfg

    paths = make_dataset(tmp_path)
    inp = {**{k: str(v) for k, v in paths.items()}, "backbone": str(save_backbone(tmp_path, 2, chat=True))}
    # every step checkpointed: 3 stage-1 steps (saves 1, 2 inside, 3 at its end), then stage 2
    cfg = seg_cfg(epochs=2, stage1_steps=3, checkpoint={"every_steps": 1, "every_minutes": 0})

    def outs(name):
        d = tmp_path / name
        return {"model": str(d / "adapter.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")}

    ref = run_seg(tmp_path, inp, outs("ref"), tmp_path / "ref.ckpt", cfg)
    assert ref.returncode == 0, ref.stderr[-3000:]
    out, ckpt = outs("killed"), tmp_path / "killed.ckpt"
    first = run_seg(tmp_path, inp, out, ckpt, cfg, kill_save=kill_save)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert not Path(out["model"]).exists()
    second = run_seg(tmp_path, inp, out, ckpt, cfg)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = re.findall(r"(SEG(?: stage 1)?): resuming from \S+ (at step \d+ of epoch \d+|after epoch \d+)", second.stderr)
    assert resumed == resumes, second.stderr[-3000:]
    a, b = (torch.load(o["model"], weights_only=False)["state_dict"] for o in (outs("ref"), out))
    assert same(a, b)
