"""S7 on MariaDB and SQLite: hostile table names through deploy, verify, drift fixes and rollback.

The PostgreSQL twin is test_hostile_names.py. Here the names are a semicolon
and a comment (`Bill; DROP TABLE shop_victim; --`), a single quote
(`o'brien`), and two names of 64 bytes, MariaDB's limit for a table name,
that differ only at their end (the index names Django derives from them must
still be told apart). Neither backend's quote_name can take its own quote
character inside a name (a backtick on MariaDB, a double quote on SQLite),
so none is used.
"""

from __future__ import annotations

import json

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject, database_settings
from tests.security.test_hostile_names import MIGRATION, MODELS, MODELS_PY

SEMICOLON = "Bill; DROP TABLE shop_victim; --"
QUOTE = "o'brien"
LONG_A = "l" * 58 + "_alpha"
LONG_B = "l" * 58 + "_bravo"
TABLES = [SEMICOLON, QUOTE, LONG_A, LONG_B]

ADD_NOTE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField(name.lower(), "note", models.CharField(max_length=20, null=True, db_index=True))
        for name in %r
    ]
'''


def _quote(vendor: str, name: str) -> str:
    """Test code writes its own hostile SQL: the name quoted as the server wants it."""
    return f"`{name}`" if vendor == "mysql" else f'"{name}"'


def _tables(vendor, server, name):
    if vendor == "mysql":
        return sorted(r[0] for r in query(vendor, server, name, "SHOW TABLES"))
    return sorted(r[0] for r in query(vendor, server, name, "SELECT name FROM sqlite_master WHERE type = 'table'"))


@pytest.fixture(params=["sqlite", "mysql"])
def hostile_db(request, tmp_path, scratch_db_access):
    """(project, vendor, server, database name) on a fresh MariaDB or SQLite database."""
    if request.param == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        yield DeployProject(tmp_path / "project", database_settings("sqlite", None, name)), "sqlite", None, name
        return
    server = request.getfixturevalue("mysql_server")
    with scratch_database(server, "pilot_hostile") as name:
        yield DeployProject(tmp_path / "project", database_settings("mysql", server, name)), "mysql", server, name


def test_hostile_names_through_deploy_verify_drift_and_rollback(hostile_db):
    project, vendor, server, name = hostile_db
    pairs = list(zip(MODELS, TABLES, strict=True))
    project.migration("0001_initial", MIGRATION % (pairs,))
    (project.root / "shop" / "models.py").write_text(MODELS_PY % (pairs,))

    deployed = project.run("deploy")
    assert deployed.code == 0, deployed.out + deployed.err
    assert set(TABLES) | {"shop_victim"} <= set(_tables(vendor, server, name))
    clean = project.run("verify", "--format", "json")
    assert clean.code == 0, clean.out + clean.err

    # Drift on a hostile table: the fix printed for it is valid SQL that names that table and no other.
    query(vendor, server, name, f"ALTER TABLE {_quote(vendor, SEMICOLON)} ADD COLUMN extra integer")
    drift = project.run("verify", "--format", "json")
    assert drift.code == 1, drift.out + drift.err
    differences = json.loads(drift.out)["differences"]
    assert [(d["table"], d["object"]) for d in differences] == [(SEMICOLON, "extra")], differences
    drop = f"ALTER TABLE {_quote(vendor, SEMICOLON)} DROP COLUMN {_quote(vendor, 'extra')}"
    assert differences[0]["fix"].startswith(f"Drop it: {drop}; Or, to keep it,"), differences[0]["fix"]
    query(vendor, server, name, drop)
    fixed = project.run("verify", "--format", "json")
    assert fixed.code == 0, fixed.out + fixed.err

    # A change on every hostile table (a column and its index each), then undone by rollback.
    project.migration("0002_note", ADD_NOTE % (MODELS,))
    (project.root / "shop" / "models.py").write_text(
        (MODELS_PY % (pairs,)).replace('db_index=True)})', 'db_index=True),\n        "note": models.CharField('
                                        'max_length=20, null=True, db_index=True)})'))
    changed = project.run("deploy")
    assert changed.code == 0, changed.out + changed.err
    assert project.run("verify").code == 0
    rolled = project.run("rollback", "--no-backup")
    assert rolled.code == 0, rolled.out + rolled.err
    assert set(TABLES) | {"shop_victim"} <= set(_tables(vendor, server, name))
    for table in TABLES:
        query(vendor, server, name, f"INSERT INTO {_quote(vendor, table)} (label) VALUES ('z')")
    assert query(vendor, server, name, "SELECT count(*) FROM shop_victim") == [(0,)]
