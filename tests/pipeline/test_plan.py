"""`pilot plan` and the deploy's lint gate, judged with live table sizes."""

from __future__ import annotations

import json

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import DeployProject

INDEX = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    ]
'''

UNIQUE_ON = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AlterUniqueTogether("invoice", {("number", "amount")})]
'''

UNIQUE_OFF = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_unique")]
    operations = [migrations.AlterUniqueTogether("invoice", set())]
'''

INDEXED_MODELS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n"
                  "    class Meta:\n        indexes = [models.Index(fields=['number'], name='invoice_number_idx')]")


def fill(vendor, server, name, rows):
    if vendor == "postgresql":
        query(vendor, server, name, "INSERT INTO shop_invoice (number, amount)"
              f" SELECT 'n' || g, g FROM generate_series(1, {rows}) g")
        query(vendor, server, name, "ANALYZE shop_invoice")
    else:
        for start in range(0, rows, 1000):
            values = ", ".join(f"('n{i}', {i})" for i in range(start, min(rows, start + 1000)))
            query(vendor, server, name, f"INSERT INTO shop_invoice (number, amount) VALUES {values}")
        if vendor == "mysql":
            query(vendor, server, name, "ANALYZE TABLE shop_invoice")


def plan_json(project: DeployProject) -> dict:
    result = project.run("plan", "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_first_deploy_to_empty_database_goes_through_lint(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_index", INDEX)
    project.models(INDEXED_MODELS)

    result = project.deploy("--target", "shop", "0002_index")

    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_index") in applied(vendor, server, name)


def test_index_on_large_postgresql_table_ships_online_with_sizes_in_plan(pg_deployed):
    project, server, name = pg_deployed
    fill("postgresql", server, name, 20_000)
    project.migration("0002_index", INDEX)
    project.models(INDEXED_MODELS)

    plan = plan_json(project)
    refused = project.deploy("--no-online")
    still = applied("postgresql", server, name)
    deployed = project.deploy()

    (entry,) = [m for m in plan["migrations"] if m["name"] == "0002_index"]
    assert entry["tables"]["shop_invoice"]["rows"] == 20_000
    assert entry["risk"] == "medium"
    assert [f["rule"] for f in entry["findings"]] == ["add-index-non-concurrent"]
    assert any("CREATE INDEX CONCURRENTLY" in s and "invoice_number_idx" in s for s in entry["forward_sql"])
    assert entry["online"] and "built CONCURRENTLY after the migration's transaction commits" in entry["online"][0]
    assert any("DROP INDEX" in s for s in entry["backward_sql"])
    assert entry["operations"][0]["locks"][0]["mode"] == "SHARE"
    assert refused.code == 1, refused.out + refused.err
    assert "Refused: 1 lint finding" in refused.out
    assert ("shop", "0002_index") not in still
    assert deployed.code == 0, deployed.out + deployed.err
    assert "online: build index invoice_number_idx on shop_invoice concurrently" in deployed.out


def test_index_on_small_table_is_not_blocking(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    fill(vendor, server, name, 200)
    project.migration("0002_index", INDEX)
    project.models(INDEXED_MODELS)

    plan = plan_json(project)
    result = project.deploy()

    assert plan["findings"] == []
    assert result.code == 0, result.out + result.err


def test_plan_says_when_sql_needs_objects_the_live_database_lacks(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_unique", UNIQUE_ON)
    project.migration("0003_not_unique", UNIQUE_OFF)

    plan = plan_json(project)
    text = project.run("plan").out

    entry = {m["name"]: m for m in plan["migrations"]}
    # Forward SQL of 0002 needs nothing from the database; its backward SQL (dropping the
    # unique constraint) looks the constraint up in the live database, where 0002 has not run
    # yet: exactly where sqlmigrate fails. The plan must say so, never print nothing, and must
    # not call the migration irreversible or show Django's raw error.
    assert entry["0002_unique"]["forward_sql"]
    assert entry["0002_unique"]["backward_sql"] is None and entry["0002_unique"]["reversible"]
    assert "its reverse SQL reads names from the database" in entry["0002_unique"]["backward_sql_note"]
    assert "rollback: reversible; its reverse SQL reads names from the database" in text
    assert "Found wrong number" not in text


def test_plan_on_up_to_date_database(deployable):
    project, *_ = deployable
    assert project.deploy().code == 0

    result = project.run("plan")

    assert result.code == 0
    assert "Nothing to migrate on default" in result.out


def test_plan_captures_sql_sqlmigrate_cannot_produce_on_a_shadow_database(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before = applied(vendor, server, name)
    project.migration("0002_unique", UNIQUE_ON)
    project.migration("0003_not_unique", UNIQUE_OFF)

    plan = plan_json(project)
    text = project.run("plan").out

    entry = {m["name"]: m for m in plan["migrations"]}
    # 0003 drops a constraint that only 0002 creates: the live database cannot name it,
    # so sqlmigrate fails; the shadow database really applies 0002 first.
    unapplied = entry["0003_not_unique"]
    assert unapplied["sql_error"] is None
    assert unapplied["sql_source"] == "shadow"
    assert any("DROP" in statement.upper() for statement in unapplied["forward_sql"]), unapplied["forward_sql"]
    assert not any("django_migrations" in statement for statement in unapplied["forward_sql"])
    assert "captured while applying the plan to a shadow database" in text
    assert applied(vendor, server, name) == before  # plan stays read-only on the live database


def test_plan_does_not_queue_behind_an_access_exclusive_lock(pg_deployed):
    """Reading a table's exact size opens it; under a lock the catalog's page counts serve instead."""
    import time

    from tests.databases import admin_connection

    project, server, name = pg_deployed
    fill("postgresql", server, name, 20_000)
    project.migration("0002_index", INDEX)
    project.models(INDEXED_MODELS)
    exact = plan_json(project)
    with admin_connection(server, name) as holder:
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE shop_invoice IN ACCESS EXCLUSIVE MODE")  # VACUUM FULL, say
        started = time.monotonic()
        locked = project.run("plan", "--format", "json", timeout=60)
        took = time.monotonic() - started
        holder.rollback()

    assert locked.code == 0, locked.err
    assert took < 15
    sizes = {m["name"]: m["tables"] for m in json.loads(locked.out)["migrations"]}["0002_index"]["shop_invoice"]
    exact_sizes = {m["name"]: m["tables"] for m in exact["migrations"]}["0002_index"]["shop_invoice"]
    assert sizes["rows"] == 20_000
    # Pages as the last ANALYZE counted them: the same order of size as the exact figure.
    assert exact_sizes["bytes"] / 2 < sizes["bytes"] <= exact_sizes["bytes"] * 2
