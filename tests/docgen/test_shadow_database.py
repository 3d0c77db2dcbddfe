"""`pilot docs --shadow-database ALIAS`: the SQL that reads names from the database, from a scratch database.

Dropping a unique_together makes Django's schema editor look the constraint's
name up in the database, so offline docs say the SQL needs the live database.
With the flag, exactly those operations get their SQL; every other byte of the
pages stays the same, and the alias's own database is never changed.
"""

from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject, database_settings
from tests.pipeline.test_plan import UNIQUE_OFF, UNIQUE_ON

TABLES = {"postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
          "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'"}


def _pages(directory):
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _docs(project, tmp_path, vendor, server, name):
    project.migration("0002_unique", UNIQUE_ON)
    project.migration("0003_unique_off", UNIQUE_OFF)
    offline = project.run("docs", "--output", str(tmp_path / "offline"))
    live_before = query(vendor, server, name, TABLES[vendor])
    shadowed = project.run("docs", "--output", str(tmp_path / "shadow"), "--shadow-database", "default")
    live_after = query(vendor, server, name, TABLES[vendor])
    return offline, shadowed, live_before, live_after, _pages(tmp_path / "offline"), _pages(tmp_path / "shadow")


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_shadow_database_writes_only_the_sql_that_needed_the_database(vendor, request, tmp_path,
                                                                        scratch_db_access):
    if vendor == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        project = DeployProject(tmp_path / "project", database_settings(vendor, None, name))
        query(vendor, None, name, "CREATE TABLE app_data (id integer)")  # the live database, not migrated
        result = _docs(project, tmp_path, vendor, None, name)
    else:
        server = request.getfixturevalue("postgresql_server")
        with scratch_database(server, "pilot_docs_shadow") as name:
            project = DeployProject(tmp_path / "project", database_settings(vendor, server, name))
            result = _docs(project, tmp_path, vendor, server, name)
    offline, shadowed, live_before, live_after, offline_pages, shadow_pages = result

    assert offline.code == 0 and shadowed.code == 0, offline.err + shadowed.out + shadowed.err
    assert "SQL that reads names from the database: 2 of 2 operation(s) written" in shadowed.err
    changed = sorted(page for page in offline_pages if offline_pages[page] != shadow_pages[page])
    assert changed == ["shop/0002_unique.md", "shop/0003_unique_off.md"]
    assert shadow_pages.keys() == offline_pages.keys()
    dropped = shadow_pages["shop/0003_unique_off.md"].decode()
    assert b"needs the live database" in offline_pages["shop/0003_unique_off.md"]
    assert "needs the live database" not in dropped
    forward = dropped.split("Forward SQL (collected on a scratch database", 1)[1].split("```", 2)[1]
    if vendor == "postgresql":
        assert 'ALTER TABLE "shop_invoice" DROP CONSTRAINT "shop_invoice_number_amount_' in forward
    else:  # a unique index on SQLite
        assert 'DROP INDEX "shop_invoice_number_amount_' in forward
    added = shadow_pages["shop/0002_unique.md"].decode()
    assert "Backward SQL (collected on a scratch database" in added  # the reverse drops it: a lookup too
    assert live_after == live_before  # the live database: nothing created, nothing migrated
