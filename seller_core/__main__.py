"""Command line: `python -m seller_core <command> ...`.

  explain   explain one (user, item) pair, or one sample, with a trained SEG:
            python -m seller_core explain --dataset tiny_yelp --user RAW_USER_ID --item RAW_ITEM_ID
            python -m seller_core explain --dataset tiny_yelp --sample-id 1234

A command is a function taking the parsed arguments and returning an exit status; add one with
`sub.add_parser(...)` and `set_defaults(run=...)`. Heavy imports happen inside the commands, so
`--help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys


def cmd_explain(args) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from seller_core.explain.seller import explain_one

    try:
        out = explain_one(args.results, args.dataset, args.user, args.item, args.sample_id, args.variant,
                          args.device, args.backbone)
    except (KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"sample {out['sample_id']} ({out['split']}): user {out['user_id']}, item {out['item_id']}")
        print(f"target categories: {', '.join(out['target_categories'])}")
        if out["category_text_given"] is not None:
            print(f"category text given to SEG: {out['category_text_given']}")
        print(f"explanation: {out['explanation']}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seller_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="explain one pair with a trained SEG")
    ex.add_argument("--dataset", required=True, help="dataset name (a folder under RESULTS/data)")
    who = ex.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="raw user id (as in the raw dump); needs --item")
    who.add_argument("--sample-id", type=int, help="a sample_id of samples_{train,valid,test}.parquet")
    ex.add_argument("--item", help="raw item id of the item to explain")
    ex.add_argument("--variant", default="full", help="SEG variant (default: full)")
    ex.add_argument("--results", default="results", help="the pipeline's results folder (default: ./results)")
    ex.add_argument("--device", default=None, help="override the trained model's device (cpu, cuda)")
    ex.add_argument("--backbone", default=None, help="override the backbone directory recorded at training")
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
