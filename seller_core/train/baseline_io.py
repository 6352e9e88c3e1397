"""Small stage-IO helpers shared by the non-LLM baselines (PETER, LightGCN). `n_users_of` mirrors
`stage_io.n_items_of` and belongs beside it once that module is free to change."""

from __future__ import annotations

from seller_core.data import stage_io
from seller_core.errors import BadInputError


def n_users_of(users_path) -> int:
    """Number of users in users.parquet, whose user_id must be dense 0..n-1."""
    users = stage_io.read_parquet(users_path, ["user_id"])
    n = len(users)
    if n == 0 or users["user_id"].min() != 0 or users["user_id"].max() != n - 1 or users["user_id"].nunique() != n:
        raise BadInputError(users_path, "user_id must be dense 0..n-1", key="user_id")
    return n

