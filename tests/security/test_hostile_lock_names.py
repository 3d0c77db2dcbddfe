"""S7: the deploy lock of a database whose name needs quoting (the lock calls take no spliced name).

The advisory key (PostgreSQL) is a computed integer and the GET_LOCK name (MySQL/MariaDB) a bound
parameter, so a database named with semicolons, quotes, comment dashes and non-ASCII letters gets its
lock taken, refused to a second taker, and released, exactly like any other, and only its own.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest

from migration_pilot.pipeline.lock import DeployLockedError, acquire
from tests.databases import admin_connection, django_connection

HOSTILE = ["pilot lock; DROP TABLE x; --", "pilot_lock o'brien \\ é", "pilot-lock`\"{q}"]


@contextlib.contextmanager
def quoted_database(server, template: str):
    """A database named `template` plus a unique tail, created and dropped with the name quoted."""
    own = '"' if server.vendor == "postgresql" else "`"
    name = template.replace(own, "").format(q="'") + f" {uuid.uuid4().hex[:6]}"
    quoted = f"{own}{name}{own}"
    with admin_connection(server) as conn:
        conn.cursor().execute(f"CREATE DATABASE {quoted}")
    try:
        yield name
    finally:
        with admin_connection(server) as conn:
            extra = " WITH (FORCE)" if server.vendor == "postgresql" else ""
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}{extra}")


@pytest.mark.parametrize("template", HOSTILE)
@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_the_deploy_lock_of_a_hostile_database_name(vendor, template, request, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with quoted_database(server, template) as name, django_connection(server, name) as connection:
        held = acquire(connection, wait=0)
        try:
            with pytest.raises(DeployLockedError):
                acquire(connection, wait=0)
        finally:
            released = held.release()
        again = acquire(connection, wait=0)
        assert again.release() is True

    assert released is True
