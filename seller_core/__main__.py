"""Command line: `python -m seller_core <command> ...`.

  explain   explain (user, item) pairs or samples with a trained method (default: SELLER):
            python -m seller_core explain --dataset tiny_yelp --user RAW_USER_ID --item RAW_ITEM_ID
            python -m seller_core explain --dataset tiny_yelp --sample-id 1234 --method xrec
            python -m seller_core explain --dataset tiny_yelp --pairs pairs.csv   (one JSON line per pair)
            python -m seller_core explain --dataset tiny_yelp --serve             (JSON lines in and out)

A command is a function taking the parsed arguments and returning an exit status; add one with
`sub.add_parser(...)` and `set_defaults(run=...)`. Heavy imports happen inside the commands, so
`--help` stays instant.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

# llm/int4.py's DECODE, spelt out so that parsing arguments imports no torch (tests/test_lookup.py: equal)
DECODE_CHOICES = ("exact", "int4", "lookup", "int4+lookup", "lookup+compile", "int4+lookup+compile")

REQUEST_KEYS = ("sample_id", "user", "item")


def request_of(obj, where: str) -> dict:
    """A request {"sample_id"} or {"user", "item"} from a parsed line; ValueError naming `where`."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object with sample_id, or user and item; got {obj!r}")
    req = {k: obj[k] for k in REQUEST_KEYS if obj.get(k) not in (None, "")}
    if "sample_id" in req:
        try:
            req["sample_id"] = int(req["sample_id"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: sample_id {obj['sample_id']!r} is not an integer") from None
    elif not ("user" in req and "item" in req):
        raise ValueError(f"{where}: needs sample_id, or user and item (keys given: {sorted(obj)})")
    return req


def read_pairs(path: Path) -> list[dict]:
    """Requests from a file: JSON lines (.jsonl / .json) or a CSV / TSV with a header naming
    sample_id, or user and item. Errors name the file and line."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix in (".jsonl", ".json"):
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}, line {n}: not JSON ({e.msg})") from None
                out.append(request_of(obj, f"{path}, line {n}"))
        return out
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
        if not rows.fieldnames or not ({"sample_id"} <= set(rows.fieldnames) or {"user", "item"} <= set(rows.fieldnames)):
            raise ValueError(f"{path}, line 1: the header must name sample_id, or user and item (got {rows.fieldnames})")
        return [request_of(r, f"{path}, line {n}") for n, r in enumerate(rows, 2)]


def print_text(out: dict) -> None:
    print(f"sample {out['sample_id']} ({out['split']}): user {out['user_id']}, item {out['item_id']}")
    print(f"target categories: {', '.join(out['target_categories'])}")
    if out.get("category_text_given") is not None:
        print(f"category text given to SEG: {out['category_text_given']}")
    print(f"explanation: {out['explanation']}")


def serve(od, stdin, stdout) -> int:
    """One JSON request per input line, one JSON line out per request, flushed at once; a bad line
    gets {"error": ...} and the server goes on. Ends at end of input."""
    for n, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        t0 = time.perf_counter()
        try:
            out = od.explain([request_of(json.loads(line), f"stdin, line {n}")])[0]
        except (ValueError, json.JSONDecodeError) as e:
            out = {"error": str(e) if not isinstance(e, json.JSONDecodeError) else f"stdin, line {n}: not JSON ({e.msg})"}
        out["seconds"] = round(time.perf_counter() - t0, 3)
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def cmd_explain(args) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    try:
        requests = read_pairs(Path(args.pairs)) if args.pairs else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from seller_core.explain.ondemand import OnDemand

    try:
        t0 = time.perf_counter()
        from seller_core import methods

        od = OnDemand(args.results, args.dataset, args.method or methods.DEFAULT_RUN, args.device, args.backbone,
                      args.decode)
        if args.serve:
            print(f"ready: {args.dataset} {od.run} loaded in {time.perf_counter() - t0:.1f}s; "
                  "one JSON request per line on stdin", file=sys.stderr, flush=True)
            return serve(od, sys.stdin, sys.stdout)
        if requests is not None:
            for out in od.explain(requests):
                print(json.dumps(out, ensure_ascii=False))
            return 0
        out = od.explain([{"user": args.user, "item": args.item, "sample_id": args.sample_id}])[0]
    except (FileNotFoundError, NotImplementedError, ValueError) as e:  # bad artifacts or options: say why
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "error" in out:
        print(f"error: {out['error']}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print_text(out)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seller_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="explain pairs with a trained method")
    ex.add_argument("--dataset", required=True, help="dataset name (a folder under RESULTS/data)")
    who = ex.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="raw user id (as in the raw dump); needs --item")
    who.add_argument("--sample-id", type=int, help="a sample_id of samples_{train,valid,test}.parquet")
    who.add_argument("--pairs", help="a file of requests: CSV/TSV with a header (sample_id, or user,item) or JSON "
                                     "lines; prints one JSON line per request, in order, loading the model once")
    who.add_argument("--serve", action="store_true",
                     help="stay resident: one JSON request per stdin line ({\"user\": U, \"item\": I} or "
                          "{\"sample_id\": N}), one JSON line out per request (with its seconds)")
    ex.add_argument("--item", help="raw item id of the item to explain")
    ex.add_argument("--method", default=None,
                    help="the run to explain with: a trained method of seller_core/methods/, a variant of one "
                         "(<method>_<variant>) or another seed's run (<method>-s<seed>); default: SELLER")
    ex.add_argument("--results", default="results", help="the pipeline's results folder (default: ./results)")
    ex.add_argument("--device", default=None, help="override the trained model's device (cpu, cuda)")
    ex.add_argument("--backbone", default=None, help="override the backbone directory recorded at training")
    ex.add_argument("--decode", default="exact", choices=DECODE_CHOICES,
                    help="exact (default): fp32 decoding, the texts the pipeline writes; int4: decode steps read the "
                         "bundled Q4 backbone's 4-bit codes (CPU, greedy; faster, texts may differ: llm/int4.py); "
                         "lookup: greedy with prompt-lookup drafts, one row at a time (the exact texts up to "
                         "rounding: llm/lookup.py); int4+lookup: both; ...+compile: the lookup's verify forwards "
                         "run torch.compile'd (minutes of compiling at start-up, then about half the time a pair; "
                         "for --serve)")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(run=cmd_explain)
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "explain" and args.user is not None and args.item is None:
        p.error("--user needs --item")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
