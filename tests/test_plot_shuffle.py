"""bench/plot_shuffle.py: reads seg_learning's .shuffle.csv files, names the first step whose CI
clears 0, and refuses a file that is not one."""
import csv
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("plot_shuffle", ROOT / "bench" / "plot_shuffle.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def row(step, hit_lo, ndcg_lo):
    return {"step": step, "n": 8, "hit_diff": hit_lo + 0.05, "hit_lo": hit_lo, "hit_hi": hit_lo + 0.1,
            "ndcg10_diff": ndcg_lo + 0.01, "ndcg10_lo": ndcg_lo, "ndcg10_hi": ndcg_lo + 0.02}


def test_first_step_clearing_zero_and_figure(tmp_path, capsys):
    mod = load()
    # rows out of order on purpose: the first clearing step is read after sorting by step
    write(tmp_path / "seg_learning_a.shuffle.csv", [row(500, 0.01, -0.01), row(256, -0.02, -0.01),
                                                   row(1000, 0.02, 0.001)])
    write(tmp_path / "seg_learning_b.shuffle.csv", [row(256, -0.1, -0.05)])
    out = tmp_path / "fig.png"
    mod.main([str(tmp_path / "seg_learning_a.shuffle.csv"), str(tmp_path / "seg_learning_b.shuffle.csv"),
              "--out", str(out)])
    printed = capsys.readouterr().out
    assert "a: own beats shuffled first at step hit=500, ndcg10=1000" in printed
    assert "b: own beats shuffled first at step hit=None, ndcg10=None" in printed
    assert out.stat().st_size > 1000


def test_a_file_without_the_columns_is_named(tmp_path):
    mod = load()
    bad = tmp_path / "seg_learning_x.csv"
    write(bad, [{"step": 1, "n": 2, "loss_own": 3.0}])
    with pytest.raises(ValueError, match="seg_learning_x.csv: missing columns"):
        mod.read_runs([bad])
