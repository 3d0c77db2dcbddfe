"""A3 end to end: a deploy whose lock session is lost part-way says so when it releases the lock.

A transaction pooler that moves the session, or a server that drops it,
frees the advisory lock (PostgreSQL) or GET_LOCK (MariaDB) without the deploy
knowing. Here the lock's own session is killed while a migration runs; the
deploy finishes its work on its own connection and then warns that the
database did not confirm releasing the lock, instead of pretending all went
well.
"""

from __future__ import annotations

import pytest

from migration_pilot.pipeline.lock import mysql_lock_name
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, SLOW, wait_until

WARNING = "Warning: the database did not confirm releasing the deploy lock"


def _kill_lock_session(vendor, server, name):
    if vendor == "postgresql":
        killed = query(vendor, server, name,
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name = 'migration-pilot lock'")
        return [row[0] for row in killed]
    (holder,) = query(vendor, server, name, f"SELECT IS_USED_LOCK('{mysql_lock_name(name)}')")[0]
    if holder is None:
        return []
    query(vendor, server, name, f"KILL CONNECTION {int(holder)}")
    return [True]


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_deploy_whose_lock_session_is_lost_warns_at_release(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW.format(seconds=2))
    project.models(NOTE_FIELDS)
    running = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name))

    killed = _kill_lock_session(vendor, server, name)
    out, err = running.communicate(timeout=90)

    assert killed == [True], killed
    assert running.returncode == 0, out + err
    assert out.count(WARNING) == 1, out
    assert ("shop", "0003_slow") in applied(vendor, server, name)
    # The lock is free afterwards: the next deploy takes it at once and finds nothing to do.
    again = project.deploy("--wait", "0s")
    assert again.code == 0 and "Nothing to deploy" in again.out, again.out + again.err
    assert WARNING not in again.out
