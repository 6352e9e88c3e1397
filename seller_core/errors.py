"""Errors for bad input, and the error-or-skip policy every parser applies per record."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger(__name__)


class BadInputError(ValueError):
    """Input that cannot be used as it is. The message always names the file, and the line or key
    when there is one, so the user can go and look."""

    def __init__(self, path, message: str, line: int | None = None, key: str | None = None):
        self.path, self.line, self.key, self.reason = str(path), line, key, message
        where = self.path + (f":{line}" if line is not None else "")
        what = f" (key {key!r})" if key is not None else ""
        super().__init__(f"{where}{what}: {message}")


class RecordPolicy:
    """`on_bad_record: error` raises at the first bad record; `skip` counts it by reason and goes on.

    Skips are never silent: the first few are logged with their line, and `counts` goes into the
    stage's stats file.
    """

    LOGGED_PER_REASON = 5

    def __init__(self, path, mode: str):
        if mode not in ("error", "skip"):
            raise ValueError(f"on_bad_record must be 'error' or 'skip', not {mode!r}")
        self.path, self.mode = str(path), mode
        self.counts: Counter[str] = Counter()

    def bad(self, reason: str, line: int | None = None, key: str | None = None, n: int = 1) -> None:
        if self.mode == "error":
            hint = " (set preprocess.on_bad_record: skip to skip and count such records)"
            raise BadInputError(self.path, reason + hint, line=line, key=key)
        if self.counts[reason] < self.LOGGED_PER_REASON:
            where = f"{self.path}:{line}" if line is not None else self.path
            log.warning("skipping bad record at %s: %s", where, reason)
        self.counts[reason] += n

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict:
        return {"file": self.path, "skipped": self.skipped, "by_reason": dict(sorted(self.counts.items()))}


def open_text(path, newline=None):
    """Open a UTF-8 text file, turning OS errors into a BadInputError that names the file."""
    try:
        return open(path, encoding="utf-8-sig", newline=newline)
    except OSError as e:
        raise BadInputError(path, f"cannot read file: {e.strerror or e}") from e
