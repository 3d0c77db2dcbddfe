"""Keep the garbage collector off the objects that live for the whole deploy.

Rendering migration states creates and drops model classes by the thousand,
and every full collection walks every live container object. Django's
`migrate` spends about a fifth of a large plan in the collector; a deploy also
holds the plan, its lint analysis and the loaded migration modules, which
would make each full collection longer still. Freezing the heap as it is when
applying starts (after one collection, so no garbage is frozen) moves those
objects out of the collector's reach; what the migrations create is collected
as usual, and unfreezing afterwards hands everything back.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Collect once, freeze what is alive now, and unfreeze on the way out."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
