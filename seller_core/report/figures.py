"""Figure 2 of the paper (ablation of SELLER's sequence-aware components) from the metrics files.

One row of panels per dataset: EER utility (NDCG@10 and Recall@10, 95% bootstrap CIs as error bars)
and text quality (BERTScore F1 and the category hit rate, with CIs), for full SELLER and each variant.
A caption line names the data, GT backend and models, read from the metrics files' provenance.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

LABELS = {"seller": "SELLER", "seller_wo_be": "w/o BE", "seller_wo_se": "w/o SE",
          "seller_wo_ct": "w/o CT", "seller_wo_de": "w/o DE"}
PANELS = (("utility", "ndcg@10", "NDCG@10 (EER)"), ("utility", "recall@10", "Recall@10 (EER)"),
          ("text", "bertscore_f1", "BERTScore F1 vs GT"), ("text", "category_hit", "category hit rate"))


def fig2(utility_paths: dict, text_paths: dict, out_png, out_csv, reference_paths: dict | None = None) -> list[dict]:
    """utility_paths / text_paths: {ds: {method: metrics json}} with method in LABELS; reference_paths:
    {ds: utility json of the `empty` explanation}, drawn as a dashed line on the utility panels (what the
    EER achieves from the history alone: below it, an explanation hurts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {"utility": {ds: {m: json.loads(Path(p).read_text()) for m, p in ms.items()} for ds, ms in utility_paths.items()},
            "text": {ds: {m: json.loads(Path(p).read_text()) for m, p in ms.items()} for ds, ms in text_paths.items()}}
    rows = []
    datasets = list(utility_paths)
    fig, axes = plt.subplots(len(datasets), len(PANELS), figsize=(4.2 * len(PANELS), 3.4 * len(datasets)), squeeze=False)
    for r, ds in enumerate(datasets):
        methods = list(utility_paths[ds])
        for c, (source, metric, title) in enumerate(PANELS):
            ax = axes[r][c]
            means, lo, hi = [], [], []
            for m in methods:
                d = data[source][ds][m]
                ci = d["ci"][metric]
                means.append(d["metrics"][metric])
                lo.append(ci["lo"])
                hi.append(ci["hi"])
                rows.append({"dataset": ds, "method": m, "variant": LABELS.get(m, m), "metric": metric,
                             "mean": d["metrics"][metric], "lo": ci["lo"], "hi": ci["hi"]})
            colors = ["#1f77b4" if m == "seller" else "#aec7e8" for m in methods]
            err = [[m - lo_ for m, lo_ in zip(means, lo)], [hi_ - m for m, hi_ in zip(means, hi)]]
            ax.bar(range(len(methods)), means, yerr=err, capsize=3, color=colors, edgecolor="black", linewidth=0.5)
            if source == "utility" and reference_paths:
                ref = json.loads(Path(reference_paths[ds]).read_text())["metrics"][metric]
                ax.axhline(ref, color="#d62728", linestyle="--", linewidth=1, label="empty explanation")
                ax.legend(loc="upper right", fontsize=7)
                rows.append({"dataset": ds, "method": "empty", "variant": "empty (reference)", "metric": metric,
                             "mean": ref, "lo": None, "hi": None})
            ax.set_xticks(range(len(methods)), [LABELS.get(m, m) for m in methods], rotation=20)
            ax.set_title(f"{ds}: {title}", fontsize=10)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
            if c == 0:
                ax.set_ylabel("mean over test cases")
    caption = ablation_caption([d for ms in data["utility"].values() for d in ms.values()])
    fig.suptitle("SELLER ablation: utility (EER) and text quality", fontsize=12)
    fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120, metadata={"Software": None})
    plt.close(fig)
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return rows


def ablation_caption(utility_records: list[dict]) -> str:
    """Fig. 2's caption line from the utility metrics records it plots: the setting (labelled when it is
    not the paper's), the data, GT backend, encoder and the LLM backbone the variants really ran on."""
    prov = utility_records[0]["provenance"]
    backbone = {f"{bb.get('name_or_path') or bb.get('path')} ({bb.get('architecture')})"
                for d in utility_records if (bb := d["provenance"]["method"].get("backbone"))}
    setting = ("NOT the paper's setting (synthetic data / offline GT / stand-in models). "
               if prov["data_source"] != "real" or prov["gt_backend"] == "offline" else "")
    return (f"{setting}Ablation of SELLER (paper Fig. 2); the first seed's run of each variant. BE: behavioural "
            f"embedding, SE: semantic embedding, CT: category texts, DE: BE+SE. Error bars: 95% bootstrap CIs over "
            f"test cases. Data: {prov['data_source']}; GT backend: {prov['gt_backend']}; encoder: {prov['encoder']}; "
            f"backbone: {', '.join(sorted(backbone)) or 'n/a'}.")
