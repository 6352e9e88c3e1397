"""Logging for workflow scripts: everything goes to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(log_path=None, level=logging.INFO) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger("seller_core")

    def excepthook(exc_type, exc, tb):
        # A failed job's log must say why it failed: Snakemake keeps the log, not the traceback.
        logger.error("failed: %s", exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = excepthook
    return logger
