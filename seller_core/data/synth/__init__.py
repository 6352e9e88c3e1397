"""Synthetic Yelp and KuaiRec dumps, written in the real raw file formats (quirks included).

The real dumps cannot be downloaded on the build machines, so the embedded default and the
benchmarks generate look-alikes that go through exactly the same ingestion code as the real files.

- `world.py`: the generative model (interest units on a ring, popularity, users drifting along
  the ring, event times) — what downstream models can and cannot learn from this data;
- `yelp.py`, `kuairec.py`: the writers, each in its dataset's real file format (documented there);
- `files.py`: helpers both writers share (ids, line writing).

Generation is vectorised with numpy and pyarrow and streamed in chunks of users, so memory is
bounded whatever the size. Every random draw comes from a numpy Generator seeded from `seed` and
the chunk index: the same arguments give byte-identical files.
"""

from .files import random_ids
from .kuairec import synthesize_kuairec
from .yelp import synthesize_yelp

__all__ = ["random_ids", "synthesize_kuairec", "synthesize_yelp"]
