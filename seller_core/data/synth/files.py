"""File-writing helpers shared by the synthetic Yelp and KuaiRec writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ID_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
ID_LEN = 22


def random_ids(rng, n: int) -> pa.StringArray:
    """n random 22-character url-safe ids, like Yelp's."""
    chars = ID_ALPHABET[rng.integers(0, 64, size=n * ID_LEN)]
    offsets = np.arange(0, (n + 1) * ID_LEN, ID_LEN, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))



def _write_lines(f, lines: pa.Array) -> None:
    """Write a string array whose values already end in a newline, without copying per value."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset: lines.offset + len(lines) + 1]
    f.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _prepare(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_sizes(users: int, items: int) -> None:
    if int(users) < 1 or int(items) < 1:
        raise ValueError(f"synthetic data needs at least one user and one item (users={users}, items={items})")


# --------------------------------------------------------------------------------------------
