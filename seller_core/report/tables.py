"""The paper's Tables 2, 3 and 5 from the metrics files, each as CSV and as readable Markdown.

Every table says where its numbers came from: the footer names the data (synthetic or real), the GT
backend, the models actually used (LLM backbone, sentence encoder, BERTScore scorer) — read from the
provenance the metrics files carry, never from config — and puts the paper's own numbers beside ours,
so a table built from the embedded default can never pass for the paper's.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from seller_core.report.paper import PAPER

PAPER_T2, PAPER_T3, PAPER_T4 = PAPER["table2"], PAPER["table3"], PAPER["table4"]
PAPER_T5 = PAPER["table5"]["any"]
T2_METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


def by_dataset(paths, datasets, names) -> dict:
    """A rule's flat input list in expand() order (dataset-major) -> {ds: {name: path}}."""
    paths = list(paths)
    if len(paths) != len(datasets) * len(names):
        raise ValueError(f"{len(paths)} paths for {len(datasets)} datasets x {len(names)} names")
    it = iter(paths)
    return {ds: {n: next(it) for n in names} for ds in datasets}


def _load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def runs_by_method(paths: dict, runs: dict) -> dict:
    """{ds: {run: path}} -> {ds: {method: [path of each seed's run]}} (runs: {method: [run names]})."""
    return {ds: {m: [by_run[r] for r in rs] for m, rs in runs.items()} for ds, by_run in paths.items()}


def _runs_as_list(x) -> list:
    return [x] if isinstance(x, (str, Path)) else list(x)


def utility_over_seeds(json_paths, ranks_paths, bootstrap: dict) -> dict:
    """One method's Table 2 numbers over its seeds' runs: the first run's record (provenance) with
    metrics, std and CIs from stats.over_seeds on the runs' per-case ranks."""
    from seller_core.eval import stats

    json_paths, ranks_paths = _runs_as_list(json_paths), _runs_as_list(ranks_paths)
    first = _load(json_paths[0])
    _, ranks = stats.aligned_ranks(ranks_paths)
    values = {m: [stats.per_case(r, m) for r in ranks] for m in first["metrics"]}
    agg = stats.over_seeds(values, bootstrap["n"], bootstrap["seed"], bootstrap["alpha"])
    return {**first, **agg, "runs": [_load(p)["method"] for p in json_paths]}


def text_over_seeds(json_paths, cases_paths, bootstrap: dict) -> dict:
    """One method's Table 3 numbers over its seeds' runs: per-case scores through stats.over_seeds,
    corpus BLEU as mean and std of the runs' values."""
    import numpy as np
    import pandas as pd

    from seller_core.eval import stats

    json_paths, cases_paths = _runs_as_list(json_paths), _runs_as_list(cases_paths)
    runs = [_load(p) for p in json_paths]
    cases = [pd.read_parquet(p).set_index("sample_id") for p in cases_paths]
    ids = cases[0].index
    for p, c in zip(cases_paths, cases):
        if len(c) != len(ids) or not c.index.sort_values().equals(ids.sort_values()):
            raise ValueError(f"{p}: its cases differ from {cases_paths[0]}'s")
    cols = ("bertscore_f1", "category_hit")
    agg = stats.over_seeds({c: [x[c].reindex(ids).to_numpy() for x in cases] for c in cols},
                             bootstrap["n"], bootstrap["seed"], bootstrap["alpha"])
    bleu = {k: np.array([r["corpus_bleu"][k] for r in runs], dtype=float)
            for k in ("bleu4", "bleu1", "bleu4_ci95_halfwidth")}
    out = {**runs[0], **agg, "runs": [r["method"] for r in runs]}
    out["metrics"] = {**runs[0]["metrics"], **agg["metrics"]}
    if len(runs) > 1:
        out["metrics"].pop("bertscore_f1_rescaled", None)  # rescaled: taken from single runs only
    out["corpus_bleu"] = {**runs[0]["corpus_bleu"], **{k: float(v.mean()) for k, v in bleu.items()},
                          "bleu4_std": float(bleu["bleu4"].std(ddof=1)) if len(runs) > 1 else None}
    return out


def _pm(mean: float, std, nd: int = 4) -> str:
    """mean, or mean ± std over seeds when there are several."""
    return f"{mean:.{nd}f}" if std is None else f"{mean:.{nd}f} ± {std:.{nd}f}"


def _fmt(x, nd=4) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _p(p: float, n_boot: int) -> str:
    return f"< {1 / n_boot:.4f}" if p == 0 else f"{p:.4f}"


def _write_outputs(rows: list[dict], md_lines: list[str], out_csv, out_md) -> None:
    _write_csv(rows, out_csv)
    Path(out_md).write_text("\n".join(md_lines) + "\n", encoding="utf-8")


def _write_csv(rows: list[dict], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def model_lines(method_provenance: dict, seen: set | None = None) -> list[str]:
    """Footer lines naming the models each method really ran with ({method: its provenance record}):
    the LLM backbone (path, architecture, size, dtype, device), XRec's profile source, the named
    models of the record (a method's own weights file is left out: it names nothing)."""
    seen = set() if seen is None else seen
    lines, users = [], {}
    for m, prov in method_provenance.items():
        found = []
        bb = prov.get("backbone")
        if bb:
            found.append(("backbone", f"`{bb.get('name_or_path') or bb.get('path')}` ({bb.get('architecture')}, "
                                      f"{bb.get('n_layers')} layers x {bb.get('hidden_size')}, "
                                      f"{str(bb.get('dtype', '')).replace('torch.', '')}, on {prov.get('device', '?')})"))
        if prov.get("inject_at"):  # issue 20's levers: which reading of Eq. 10 and which category text ran
            found.append(("injection", f"Eq. 10 added at `{prov['inject_at']}`"
                                       + (", zero-initialised q/k/v gates per layer" if prov.get("qkv_gate") else "")
                                       + (f", slot vector at `{prov['slot_scale']}` scale" if prov.get("slot_scale") not in (None, "none") else "")))
        if prov.get("category_text"):
            found.append(("category text", {"sampled": "the paper's sub-sampled sequence categories (App. A.1.2)",
                                            "target_first": "the target's own categories first (Eq. 2's d_i), then the "
                                                            "sampled ones"}.get(prov["category_text"], prov["category_text"])))
        if prov.get("profiles"):
            found.append(("profiles", f"`{prov['profiles'].get('model')}` (backend {prov['profiles'].get('backend')})"))
        for role, name in sorted(prov.get("models", {}).items()):
            if not str(name).startswith("results/models/"):
                found.append(({"gt": "GT text"}.get(role, role), f"`{name}`"))
        for role, text in found:
            users.setdefault((role, text), []).append(m)
    for (role, text), ms in users.items():
        if (role, text) not in seen:
            seen.add((role, text))
            lines.append(f"- {role} ({', '.join(ms)}): {text}")
    return lines


def provenance_footer(utility: dict, formats: dict) -> list[str]:
    """Footer lines from the metrics files' own provenance records ({ds: {m: metrics json}})."""
    lines, seen = [], set()
    for ds, methods in utility.items():
        any_m = next(iter(methods.values()))["provenance"]
        kinds = sorted({d["provenance"]["eer"]["gt_kind"] for d in methods.values()})  # Table 4: one per row
        lines.append(f"- `{ds}` ({formats[ds]} format): **{any_m['data_source']} data**, GT backend "
                     f"**{any_m['gt_backend']}**, EER kind{'s' * (len(kinds) > 1)} "
                     f"{', '.join(f'`{k}`' for k in kinds)}, sentence encoder `{any_m['encoder']}`.")
        lines += model_lines({m: d["provenance"]["method"] for m, d in methods.items()}, seen)
    synthetic = any(next(iter(ms.values()))["provenance"]["data_source"] != "real" for ms in utility.values())
    offline = any(next(iter(ms.values()))["provenance"]["gt_backend"] == "offline" for ms in utility.values())
    if synthetic or offline:
        lines.insert(0, "**Not the paper's setting:** " + " and ".join(
            x for x in ("synthetic data generated in the real file formats" if synthetic else "",
                        "the offline template GT backend instead of Claude" if offline else "") if x)
            + "; stand-in models where named below. Compare methods within this table, never with the paper's numbers.")
    return lines


def table2(utility_paths: dict, ranks_paths: dict, paired_paths: dict, formats: dict, bootstrap: dict,
           out_csv, out_md, roles: dict) -> list[dict]:
    """utility_paths / ranks_paths: {ds: {m: [metrics json / ranks parquet of each seed's run]}} (a single
    path for a one-run method); paired_paths: {ds: {m: focus-minus-m json}}. roles (config `report:`
    with the methods' labels): focus (the method the p column and the Improve row are about),
    baselines (Improve: focus relative to the best of these present), labels {method: label}."""
    focus, baselines, labels = roles["focus"], roles["baselines"], roles["labels"]
    flabel = labels.get(focus, focus)
    utility = {ds: {m: utility_over_seeds(p, ranks_paths[ds][m], bootstrap) for m, p in ms.items()}
               for ds, ms in utility_paths.items()}
    rows, md = [], ["# Table 2: explanation utility (EER full-ranking Recall/NDCG@5/10)", ""]
    for ds, methods in utility.items():
        paper = PAPER_T2.get(formats[ds], {})
        paired = {b: _load(p) for b, p in paired_paths.get(ds, {}).items()}
        md_rows = []
        for m, d in methods.items():
            met, ci, std = d["metrics"], d["ci"], d["std"]
            row = {"dataset": ds, "method": m, "n_cases": d["n_cases"], "n_seeds": d["n_seeds"]}
            for k in T2_METRICS:
                row[k], row[f"{k}_std"] = met[k], std[k]
                row[f"{k}_lo"], row[f"{k}_hi"] = ci[k]["lo"], ci[k]["hi"]
            if m in paired:  # focus - m, per case
                diff = paired[m]["a_minus_b"]["ndcg@10"]
                row[f"{focus}_minus_this_ndcg@10"] = diff["diff"]
                row[f"{focus}_minus_this_ndcg@10_lo"], row[f"{focus}_minus_this_ndcg@10_hi"] = diff["lo"], diff["hi"]
                row[f"p_{focus}_vs_this_ndcg@10"] = diff["p_bootstrap"]
            for k, v in zip(T2_METRICS, paper.get(m, (None,) * 4)):
                row[f"paper_{k}"] = v
            rows.append(row)
            p = row.get(f"p_{focus}_vs_this_ndcg@10")
            md_rows.append([m] + [f"{_pm(met[k], std[k])} [{ci[k]['lo']:.4f}, {ci[k]['hi']:.4f}]" for k in T2_METRICS]
                           + [_p(p, paired[m]["a_minus_b"]["ndcg@10"]["n_boot"]) if p is not None else "", _fmt(paper.get(m, (None,) * 4)[1]), _fmt(paper.get(m, (None,) * 4)[3])])
        present = [b for b in baselines if b in methods]
        if focus in methods and present:
            imp = {"dataset": ds, "method": "improve_over_best_baseline"}
            cells = ["Improve (vs best baseline)"]
            for k in T2_METRICS:
                best = max(methods[b]["metrics"][k] for b in present)
                imp[k] = (methods[focus]["metrics"][k] - best) / best if best > 0 else None
                cells.append("—" if imp[k] is None else f"{100 * imp[k]:+.2f}%")
            rows.append(imp)
            md_rows.append(cells + ["", "", ""])
        md += [f"## {ds}", "", _md_table(["method", "Recall@5", "Recall@10", "NDCG@5", "NDCG@10",
                                          f"p ({flabel} vs, NDCG@10)", "paper R@10", "paper N@10"], md_rows), ""]
    n_seeds = max(d["n_seeds"] for ms in utility.values() for d in ms.values())
    md += ["Cells: mean over test cases " + ("± standard deviation over seeds (trainable methods; one run for the "
           "controls) " if n_seeds > 1 else "") + "[95% percentile-bootstrap CI over test cases"
           + (" of the per-case values averaged over seeds" if n_seeds > 1 else "") + "]. "
           f"Seeds per trainable method: {n_seeds}. p: paired bootstrap over the same test cases of {flabel} − method "
           "on NDCG@10 (two-sided" + (", per-case values averaged over each method's seeds" if n_seeds > 1 else "")
           + f"). Improve: {flabel} relative to the best of {'/'.join(labels.get(b, b) for b in baselines)} present. "
           "`gt` is the oracle (the sample's own GT explanation); the paper does not report it.", ""]
    md += provenance_footer(utility, formats)
    _write_outputs(rows, md, out_csv, out_md)
    return rows


def table3(text_paths: dict, cases_paths: dict, formats: dict, bootstrap: dict, out_csv, out_md) -> list[dict]:
    """text_paths / cases_paths: {ds: {m: [text-metrics json / per-case parquet of each seed's run]}}."""
    text = {ds: {m: text_over_seeds(p, cases_paths[ds][m], bootstrap) for m, p in ms.items()}
            for ds, ms in text_paths.items()}
    rows, md = [], ["# Table 3: explanation text quality against the GT", ""]
    scorer = set()
    for ds, methods in text.items():
        paper = PAPER_T3.get(formats[ds], {})
        md_rows = []
        for m, d in methods.items():
            met, ci, bleu = d["metrics"], d["ci"], d["corpus_bleu"]
            scorer.add((d["bertscore"]["model"], d["bertscore"]["num_layers"], d["bertscore"]["hash"]))
            std = d["std"]
            row = {"dataset": ds, "method": m, "n_seeds": d["n_seeds"], "bleu4": bleu["bleu4"], "bleu4_std": bleu["bleu4_std"],
                   "bleu4_ci95_halfwidth": bleu["bleu4_ci95_halfwidth"],
                   "bleu1": bleu["bleu1"], "bertscore_f1": met["bertscore_f1"], "bertscore_f1_std": std["bertscore_f1"],
                   "bertscore_f1_lo": ci["bertscore_f1"]["lo"], "bertscore_f1_hi": ci["bertscore_f1"]["hi"],
                   "bertscore_f1_rescaled": met.get("bertscore_f1_rescaled"),
                   "category_hit": met["category_hit"], "category_hit_std": std["category_hit"],
                   "category_hit_lo": ci["category_hit"]["lo"],
                   "category_hit_hi": ci["category_hit"]["hi"],
                   "paper_bleu": paper.get(m, (None, None))[0], "paper_bertscore": paper.get(m, (None, None))[1]}
            rows.append(row)
            md_rows.append([m, f"{_pm(row['bleu4'], row['bleu4_std'])} (±{row['bleu4_ci95_halfwidth']:.4f})",
                            f"{row['bleu1']:.4f}",
                            f"{_pm(row['bertscore_f1'], row['bertscore_f1_std'])} [{row['bertscore_f1_lo']:.4f}, {row['bertscore_f1_hi']:.4f}]",
                            _fmt(row["bertscore_f1_rescaled"]),
                            f"{_pm(row['category_hit'], row['category_hit_std'], 3)} [{row['category_hit_lo']:.3f}, {row['category_hit_hi']:.3f}]",
                            _fmt(row["paper_bleu"]), _fmt(row["paper_bertscore"])])
        md += [f"## {ds}", "", _md_table(["method", "BLEU-4", "BLEU-1", "BERTScore F1", "BERTScore F1 (rescaled)",
                                          "category hit rate", "paper BLEU", "paper BERTScore"], md_rows), ""]
    any_d = next(iter(next(iter(text.values())).values()))
    n_seeds = max(d["n_seeds"] for ms in text.values() for d in ms.values())
    md += [f"Seeds per trainable method: {n_seeds}" + (" (cells: mean ± standard deviation over seeds; CIs over test "
           "cases of the seed-averaged per-case scores; BLEU-4's bracket is the mean of the runs' half-widths)"
           if n_seeds > 1 else "") + ".",
           f"BLEU: sacrebleu corpus BLEU on a 0-1 scale (`{any_d['corpus_bleu']['signature']}`; (±) = sacrebleu's "
           "bootstrap 95% half-width). The paper cites BLEURT for its \"BLEU\"; **BLEURT is not computed** (its "
           "checkpoints do not ship offline). BERTScore F1 with bert-score: "
           + "; ".join(f"scorer `{s}`, layer {n}, hash `{h}`" for s, n, h in sorted(scorer))
           + " — scores from a scorer other than roberta-large are not comparable to the paper's. Category hit rate "
           "(ours): share of explanations naming at least one of the target item's categories. All against the "
           f"same untruncated GT text (kind `{any_d['gt_kind']}`).", ""]
    provs = {ds: next(iter(ms.values()))["provenance"] for ds, ms in text.items()}
    if any(pv["data_source"] != "real" or pv["gt_backend"] == "offline" for pv in provs.values()):
        md += ["**Not the paper's setting** (synthetic data and/or the offline template GT backend, stand-in "
               "scorer): compare methods within this table, never with the paper's numbers."]
    md += [f"- `{ds}`: **{pv['data_source']} data**, GT backend **{pv['gt_backend']}**" for ds, pv in provs.items()]
    seen: set = set()
    for ms in text.values():
        md += model_lines({m: d["provenance"].get("method", {}) for m, d in ms.items()}, seen)
    _write_outputs(rows, md, out_csv, out_md)
    return rows


def host_line(host: dict) -> str:
    """A cost record's `host` (seller_core.runtime.host_info) as a footer names it: 'Intel Xeon ... (2 cores),
    torch 2.13.0+cpu kernels AVX512' (+ MKL's when pinned). Here, not in runtime: the report layer imports no torch."""
    mkl = host.get("mkl_cbwr", "auto")
    return (f"{host.get('cpu', '?')} ({host.get('cores', '?')} cores), torch {host.get('torch', '?')} kernels "
            f"{host.get('kernels', '?')}" + ("" if mkl == "auto" else f", MKL_CBWR={mkl}"))


def _mean_cost(paths) -> dict | None:
    """A method's cost record, its times and token counts averaged over its seeds' runs."""
    if not paths:
        return None
    runs = [_load(p) for p in _runs_as_list(paths)]
    out = dict(runs[0])
    for k in ("wall_seconds", "tokens", "new_tokens", "peak_rss_mb"):
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            out[k] = sum(vals) / len(vals)
    out["n_runs"] = len(runs)
    out["hosts"] = sorted({host_line(r["host"]) if r.get("host") else "" for r in runs})
    return out


def table5(costs: dict, hardware: str, out_csv, out_md, setting: dict, roles: dict) -> list[dict]:
    """costs: {ds: {m: {"train": cost json path(s) or None, "generate": cost json path(s)}}}, a list of paths
    for a method with several seeds' runs (their mean is reported); times relative to roles["reference"].
    The footer names the hosts the jobs recorded (cost.json "host"); `hardware` describes this machine,
    named only for records without one.
    setting: {"llm": {name, source}, "data": {ds: synthetic | real}, "gt_backend": ...} for the footer;
    roles: reference (config report.cost_reference), labels {method: label}, llm (the methods on the
    shared backbone)."""
    ref_name, labels = roles["reference"], roles["labels"]
    rlabel = labels.get(ref_name, ref_name)
    rows, md = [], [f"# Table 5: training and inference cost relative to {rlabel}", ""]
    hosts: set = set()
    for ds, methods in costs.items():
        loaded = {m: {k: _mean_cost(p) for k, p in parts.items()} for m, parts in methods.items()}
        hosts |= {h for parts in loaded.values() for c in parts.values() if c for h in c["hosts"]}
        ref = loaded.get(ref_name)
        md_rows = []
        for m, parts in loaded.items():
            tr = parts["train"]["wall_seconds"] if parts.get("train") else None
            ge = parts["generate"]["wall_seconds"] if parts.get("generate") else None
            rel_tr = tr / ref["train"]["wall_seconds"] if ref and tr is not None and ref.get("train") else None
            rel_ge = ge / ref["generate"]["wall_seconds"] if ref and ge is not None and ref.get("generate") else None
            paper = PAPER_T5.get(m, (None, None))
            device = (parts.get("generate") or parts.get("train") or {}).get("device")
            rows.append({"dataset": ds, "method": m, "train_seconds": tr, "generate_seconds": ge,
                         f"train_rel_{ref_name}": rel_tr, f"generate_rel_{ref_name}": rel_ge,
                         "train_tokens": (parts.get("train") or {}).get("tokens"),
                         "generate_new_tokens": (parts.get("generate") or {}).get("new_tokens"),
                         "peak_rss_mb": max((p or {}).get("peak_rss_mb") or 0 for p in parts.values()) or None,
                         "device": device, "paper_train_rel": paper[0], "paper_generate_rel": paper[1]})
            md_rows.append([m, _fmt(rel_tr, 3) + "×" if rel_tr else "—", _fmt(rel_ge, 3) + "×" if rel_ge else "—",
                            _fmt(tr, 1), _fmt(ge, 1), str(device), _fmt(paper[0], 3), _fmt(paper[1], 3)])
        md += [f"## {ds}", "", _md_table(["method", f"training (× {rlabel})", f"inference (× {rlabel})", "training s",
                                          "inference s", "device", "paper training", "paper inference"], md_rows), ""]
    md += [f"Wall-clock seconds of each method's training job and of generating the test explanations, as the "
           f"jobs recorded them (cost.json; the mean over a method's seeds), on: "
           + ("; ".join(sorted(h if h else f"{hardware} (this table's machine: the job recorded none)" for h in hosts))
              or hardware)
           + ". The paper's times are for LLaMA-2-7B on GPUs; ours "
           "come from whatever backbone and hardware ran the jobs, so only the ratios are comparable, and only "
           "roughly. The paper's LLaMA2-7B row (bare backbone inference) is not reproduced here.", ""]
    if setting:
        llm, synthetic = setting["llm"], any(src != "real" for src in setting["data"].values())
        if synthetic or "llama-2-7b" not in llm["name"].lower():
            md.append("**Not the paper's setting:** " + ("synthetic data, " if synthetic else "")
                      + f"backbone `{llm['name']}` instead of LLaMA-2-7B, other hardware: compare methods within "
                      "this table, never with the paper's numbers.")
        on_llm = [m for m in next(iter(costs.values()), {}) if m in roles["llm"]]
        others = [m for m in next(iter(costs.values()), {}) if m not in roles["llm"]]
        md.append(f"- LLM backbone of {', '.join(labels.get(m, m) for m in on_llm) or 'no method here'}: "
                  f"`{llm['name']}` (source `{llm['source']}`)"
                  + (f"; without it: {', '.join(labels.get(m, m) for m in others)}." if others else "."))
        md += [f"- `{ds}`: **{src} data**, GT backend **{setting['gt_backend']}**" for ds, src in setting["data"].items()]
    _write_outputs(rows, md, out_csv, out_md)
    return rows


T4_ROWS = {"random_category": "Random Category", "category": "Category-level", "intent": "Intent-level",
           "both": "Both (SELLER)"}


def table4(utility_paths: dict, formats: dict, out_csv, out_md) -> list[dict]:
    """utility_paths: {ds: {row: utility json}}, row in T4_ROWS: each row's explanations scored by the EER
    trained on the matching GT kind (random_category: random training explanations of category level)."""
    utility = {ds: {r: _load(p) for r, p in rs.items()} for ds, rs in utility_paths.items()}
    rows, md = [], ["# Table 4: explanation types (SEG trained on each GT kind, scored by the EER of that kind)", ""]
    for ds, by_row in utility.items():
        paper = PAPER_T4.get(formats[ds], {})
        md_rows = []
        for r, d in by_row.items():
            met, ci = d["metrics"], d["ci"]
            rows.append({"dataset": ds, "row": r, "method": d["method"], "eer_kind": d["eer_kind"],
                         "recall@10": met["recall@10"], "recall@10_lo": ci["recall@10"]["lo"],
                         "recall@10_hi": ci["recall@10"]["hi"], "ndcg@10": met["ndcg@10"],
                         "ndcg@10_lo": ci["ndcg@10"]["lo"], "ndcg@10_hi": ci["ndcg@10"]["hi"],
                         "paper_recall@10": paper.get(r, (None, None))[0], "paper_ndcg@10": paper.get(r, (None, None))[1]})
            md_rows.append([T4_ROWS[r], f"`{d['method']}` / EER `{d['eer_kind']}`",
                            f"{met['recall@10']:.4f} [{ci['recall@10']['lo']:.4f}, {ci['recall@10']['hi']:.4f}]",
                            f"{met['ndcg@10']:.4f} [{ci['ndcg@10']['lo']:.4f}, {ci['ndcg@10']['hi']:.4f}]",
                            _fmt(paper.get(r, (None, None))[0]), _fmt(paper.get(r, (None, None))[1])])
        md += [f"## {ds}", "", _md_table(["explanation type", "method / EER", "Recall@10", "NDCG@10", "paper R@10",
                                          "paper N@10"], md_rows), ""]
    md += ["How we read the paper's Table 4: each row trains SEG on one GT kind and scores its explanations with the "
           "EER trained on that kind; \"Both\" is SELLER's Table 2 row; \"Random Category\" scores random training "
           "explanations of category level with the category EER. Cells: mean [95% bootstrap CI].", ""]
    md += provenance_footer(utility, formats)
    _write_outputs(rows, md, out_csv, out_md)
    return rows
