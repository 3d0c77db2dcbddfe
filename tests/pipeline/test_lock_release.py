"""Releasing the deploy lock checks the database's answer (scenario A3)."""

from __future__ import annotations

import pytest

from migration_pilot.pipeline import lock
from tests.databases import scratch_connection


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
def test_release_of_a_held_lock_is_confirmed_and_frees_it(vendor, request, tmp_path, scratch_db_access):
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    with scratch_connection(vendor, server, tmp_path) as connection:
        held = lock.acquire(connection, wait=0)
        with pytest.raises(lock.DeployLockedError):
            lock.acquire(connection, wait=0)

        assert held.release() is True

        lock.acquire(connection, wait=0).release()  # free again


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_release_of_a_lock_lost_on_the_way_says_so(vendor, request, tmp_path):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_connection(vendor, server, tmp_path) as connection:
        held = lock.acquire(connection, wait=0)
        cursor = held.handle.cursor()
        # What a pooler moving the session looks like from here: the lock is no longer this session's.
        if vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_unlock(%s)", [int(held.key)])
        else:
            cursor.execute("SELECT RELEASE_LOCK(%s)", [held.key])
        cursor.close()

        assert held.release() is False

        lock.acquire(connection, wait=0).release()
