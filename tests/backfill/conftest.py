"""A table of `Item` rows on a real database, plus migration_pilot's checkpoint table.

The model is a historical one (from a ProjectState), as a Backfill in a
migration gets it, so no test app has to be installed.
"""

from __future__ import annotations

import pytest
from django.db import models
from django.db.migrations.state import ModelState, ProjectState

from tests import databases

VENDORS = ["sqlite", "postgresql", "mysql"]


def item_model():
    """A fresh historical model `bf.Item` (table bf_item): n counts updates, code is filled from status."""
    state = ProjectState()
    state.add_model(ModelState("bf", "Item", [
        ("id", models.BigAutoField(primary_key=True)),
        ("n", models.IntegerField(default=0)),
        ("status", models.CharField(max_length=20, default="")),
        ("code", models.CharField(max_length=20, null=True)),
    ]))
    return state.apps.get_model("bf", "Item")


def prepare(connection, rows: int):
    """Create migration_pilot's tables and bf_item with `rows` rows; returns the model."""
    from migration_pilot.models import BackfillCheckpoint

    model = item_model()
    with connection.schema_editor() as editor:
        editor.create_model(BackfillCheckpoint)  # what migration_pilot.0004 creates, without loading the graph
        editor.create_model(model)
    statuses = ["paid", "open", "void"]
    model.objects.using(connection.alias).bulk_create(
        [model(n=0, status=statuses[i % 3]) for i in range(rows)], batch_size=1000)
    return model


@pytest.fixture(params=VENDORS)
def vendor_connection(request, tmp_path, scratch_db_access):
    """(vendor, server or None, database name, Django connection) of an empty scratch database."""
    vendor = request.param
    server = None
    if vendor != "sqlite":
        server = request.getfixturevalue("postgresql_server" if vendor == "postgresql" else "mysql_server")
    if vendor == "sqlite":
        path = str(tmp_path / "scratch.sqlite3")
        with databases.django_connection(None, path) as connection:
            yield vendor, None, path, connection
        return
    with databases.scratch_database(server) as name, databases.django_connection(server, name) as connection:
        yield vendor, server, name, connection


def raw_count(vendor, server, name, sql):
    """One scalar from a separate connection (never the backfill's own)."""
    if vendor == "sqlite":
        import sqlite3

        conn = sqlite3.connect(name)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    with databases.admin_connection(server, name) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        value = cursor.fetchone()[0]
        cursor.close()
        return value
