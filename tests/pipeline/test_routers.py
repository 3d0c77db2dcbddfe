"""Catalogue J1: a DATABASE_ROUTERS router sends app `ledger` to alias `other` only; `shop` stays on `default`.

Two real PostgreSQL databases; every command goes through the console script and every assertion reads the
live catalogs, so a deploy, verify or plan that ignored allow_migrate would show here.
"""

from __future__ import annotations

import contextlib
import textwrap
import threading

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject

LEDGER_INITIAL = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Entry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=20)),
            ],
        ),
    ]
'''

LEDGER_ADD_MEMO = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.AddField("entry", "memo", models.CharField(max_length=40, null=True))]
'''

ROUTER = '''
class LedgerRouter:
    """`ledger` lives in `other` only; every other app lives everywhere but `other`."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "ledger":
            return db == "other"
        if app_label == "migration_pilot":
            return None
        return db != "other"
'''


@pytest.fixture
def routed(postgresql_server, tmp_path, scratch_db_access):
    """(project, server, {alias: database name}) with shop and ledger written, nothing deployed yet."""
    with contextlib.ExitStack() as stack:
        names = {alias: stack.enter_context(scratch_database(postgresql_server, "pilot_router"))
                 for alias in ("default", "other")}
        project = DeployProject(tmp_path / "project", postgresql_server.django_settings(names["default"]))
        root = project.root
        (root / "ledger" / "migrations").mkdir(parents=True)
        (root / "ledger" / "__init__.py").write_text("")
        (root / "ledger" / "migrations" / "__init__.py").write_text("")
        (root / "ledger" / "models.py").write_text(
            "from django.db import models\n\n\nclass Entry(models.Model):\n    label = models.CharField(max_length=20)\n")
        (root / "ledger" / "migrations" / "0001_initial.py").write_text(textwrap.dedent(LEDGER_INITIAL).lstrip())
        (root / "routers.py").write_text(textwrap.dedent(ROUTER).lstrip())
        databases = {alias: postgresql_server.django_settings(name) for alias, name in names.items()}
        (root / "settings.py").write_text(textwrap.dedent(f"""
            SECRET_KEY = "x"
            USE_TZ = True
            INSTALLED_APPS = ["migration_pilot", "shop", "ledger"]
            DATABASES = {databases!r}
            DATABASE_ROUTERS = ["routers.LedgerRouter"]
            DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
            BASE_DIR = {str(root)!r}
        """))
        yield project, postgresql_server, names


def _columns(server, database) -> dict[str, set[str]]:
    """{table: {column}} of the app tables (shop_*, ledger_*) in `database`'s public schema."""
    with admin_connection(server, database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT table_name, column_name FROM information_schema.columns"
                       " WHERE table_schema = 'public' AND (table_name LIKE 'shop%%' OR table_name LIKE 'ledger%%')")
        found: dict[str, set[str]] = {}
        for table, column in cursor.fetchall():
            found.setdefault(table, set()).add(column)
        return found


def _recorded(server, database) -> set[tuple[str, str]]:
    with admin_connection(server, database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT app, name FROM django_migrations WHERE app IN ('shop', 'ledger')")
        return {(app, name) for app, name in cursor.fetchall()}


def _add_second_migrations(project) -> None:
    project.models(NOTE_FIELDS)
    project.migration("0002_note", ADD_NOTE)
    (project.root / "ledger" / "models.py").write_text(
        "from django.db import models\n\n\nclass Entry(models.Model):\n    label = models.CharField(max_length=20)\n"
        "    memo = models.CharField(max_length=40, null=True)\n")
    (project.root / "ledger" / "migrations" / "0002_memo.py").write_text(textwrap.dedent(LEDGER_ADD_MEMO).lstrip())


def test_each_app_lands_only_where_the_router_allows_and_verify_and_plan_agree(routed):
    project, server, names = routed

    first = project.deploy("--database", "default")
    second = project.deploy("--database", "other")

    assert first.code == 0, first.out + first.err
    assert second.code == 0, second.out + second.err
    assert _columns(server, names["default"]) == {"shop_invoice": {"id", "number", "amount"}}
    assert _columns(server, names["other"]) == {"ledger_entry": {"id", "label"}}
    for alias in ("default", "other"):
        verified = project.run("verify", "--database", alias)
        assert verified.code == 0, alias + verified.out + verified.err
        planned = project.run("plan", "--database", alias)
        assert planned.code == 0, alias + planned.out + planned.err
        assert "shop.0001_initial" not in planned.out and "ledger.0001_initial" not in planned.out

    _add_second_migrations(project)
    plan_default = project.run("plan", "--database", "default")
    plan_other = project.run("plan", "--database", "other")
    fleet = project.run("deploy", "--fleet", "--database", "all", "--no-backup")

    # Django records both migrations on both aliases; the plan's SQL is what the router lets through.
    assert 'ALTER TABLE "shop_invoice" ADD COLUMN "note"' in plan_default.out, plan_default.out
    assert 'ALTER TABLE "ledger_entry"' not in plan_default.out, plan_default.out
    assert 'ALTER TABLE "ledger_entry" ADD COLUMN "memo"' in plan_other.out, plan_other.out
    assert 'ALTER TABLE "shop_invoice"' not in plan_other.out, plan_other.out
    # Recorded but routed away: no lock and no data loss claimed for the alias that runs nothing.
    ledger_on_default = plan_default.out[plan_default.out.index("ledger.0002_memo"):]
    assert "nothing runs on default: DATABASE_ROUTERS send it elsewhere" in ledger_on_default, plan_default.out
    assert "ledger_entry" not in ledger_on_default.split("shop.")[0], plan_default.out
    assert fleet.code == 0, fleet.out + fleet.err
    assert _columns(server, names["default"]) == {"shop_invoice": {"id", "number", "amount", "note"}}
    assert _columns(server, names["other"]) == {"ledger_entry": {"id", "label", "memo"}}
    for alias in ("default", "other"):
        verified = project.run("verify", "--database", alias)
        assert verified.code == 0, alias + verified.out + verified.err


def test_a_failure_in_other_leaves_both_databases_as_they_were(routed):
    project, server, names = routed
    assert project.deploy("--database", "default").code == 0
    assert project.deploy("--database", "other").code == 0
    _add_second_migrations(project)
    with admin_connection(server, names["other"]) as conn:
        conn.cursor().execute("ALTER TABLE ledger_entry ADD COLUMN memo integer")
    before = {alias: (_columns(server, name), _recorded(server, name)) for alias, name in names.items()}

    failed = project.run("deploy", "--fleet", "--database", "default,other", "--jobs", "1", "--no-backup")

    assert failed.code == 3, failed.out + failed.err
    assert "rolled back the database(s) this run had migrated (default)" in failed.out
    after = {alias: (_columns(server, name), _recorded(server, name)) for alias, name in names.items()}
    assert after == before


def test_two_deploys_at_once_on_the_two_aliases_both_finish(routed):
    project, server, names = routed
    results = {}

    def deploy(alias):
        results[alias] = project.deploy("--database", alias, timeout=90)

    threads = [threading.Thread(target=deploy, args=(alias,)) for alias in ("default", "other")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(100)

    assert all(not thread.is_alive() for thread in threads)
    assert all(result.code == 0 for result in results.values()), {a: r.out + r.err for a, r in results.items()}
    assert set(_columns(server, names["default"])) == {"shop_invoice"}
    assert set(_columns(server, names["other"])) == {"ledger_entry"}
