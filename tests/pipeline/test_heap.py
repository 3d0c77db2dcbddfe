"""frozen_heap(): what is alive when applying starts is out of the collector's reach, garbage is not."""

from __future__ import annotations

import gc
import weakref

from migration_pilot.pipeline.heap import frozen_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_objects_alive_at_entry_are_frozen_and_handed_back_afterwards():
    kept = Node()
    assert gc.get_freeze_count() == 0

    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert not any(obj is kept for obj in gc.get_objects())

    assert gc.get_freeze_count() == 0
    assert any(obj is kept for obj in gc.get_objects())


def test_garbage_from_before_is_collected_not_frozen():
    dead = weakref.ref(Node())  # unreachable cycle, not yet collected
    gc.disable()
    try:
        with frozen_heap():
            assert dead() is None
    finally:
        gc.enable()


def test_cycles_made_inside_are_still_collected():
    with frozen_heap():
        made = weakref.ref(Node())
        gc.collect()
        assert made() is None


def test_unfreezes_when_applying_fails():
    try:
        with frozen_heap():
            raise RuntimeError("migration failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
