"""CREATE INDEX CONCURRENTLY through the deploy: no self-deadlock, no INVALID index left (A8, B4)."""

from __future__ import annotations

import psycopg
import pytest

from tests.databases import admin_connection
from tests.pipeline.inspect_db import applied, query, schema_dump

INDEXED_FIELDS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n"
                  "    class Meta:\n        indexes = [models.Index(fields=['number'], name='invoice_number_idx')]")

CONCURRENT_INDEX = '''
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0001_initial")]
    operations = [
        AddIndexConcurrently("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    ]
'''

# Fails after the build: the duplicates are only found once the index exists, INVALID.
CONCURRENT_UNIQUE = '''
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "CREATE UNIQUE INDEX CONCURRENTLY invoice_number_uniq ON shop_invoice (number)",
            "DROP INDEX CONCURRENTLY IF EXISTS invoice_number_uniq",
        ),
    ]
'''

INVALID = "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE NOT x.indisvalid"


@pytest.fixture
def pg_project(pg_deployed):
    """pg_deployed with 5,000 invoices (500 distinct numbers, so a unique index on them fails)."""
    project, server, name = pg_deployed
    query("postgresql", server, name,
          "INSERT INTO shop_invoice (number, amount) SELECT 'n' || (g % 500), g FROM generate_series(1, 5000) g")
    return project, server, name


def test_concurrent_index_deploys_under_the_deploy_lock(pg_project):
    project, server, name = pg_project
    project.migration("0002_index", CONCURRENT_INDEX)
    project.models(INDEXED_FIELDS)

    result = project.deploy("--lock-timeout", "2s", timeout=60)

    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_index") in applied("postgresql", server, name)
    assert query("postgresql", server, name,
                 "SELECT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
                 " WHERE c.relname = 'invoice_number_idx'") == [(True,)]


def test_failed_concurrent_build_leaves_no_invalid_index(pg_project):
    project, server, name = pg_project
    before = schema_dump("postgresql", server, name)
    project.migration("0002_unique", CONCURRENT_UNIQUE)

    result = project.deploy("--fail-on", "never")

    assert result.code == 3, result.out + result.err
    assert "UniqueViolation" in result.out or "could not create unique index" in result.out
    assert "dropped the INVALID index(es) invoice_number_uniq" in result.out
    assert query("postgresql", server, name, INVALID) == []
    assert schema_dump("postgresql", server, name) == before


def test_invalid_index_left_by_an_earlier_run_is_dropped_and_rebuilt(pg_project):
    project, server, name = pg_project
    # What a deploy killed during CREATE INDEX CONCURRENTLY leaves: the index, marked INVALID.
    query("postgresql", server, name, "CREATE INDEX invoice_number_idx ON shop_invoice (number)")
    query("postgresql", server, name,
          "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'invoice_number_idx'::regclass")
    project.migration("0002_index", CONCURRENT_INDEX)
    project.models(INDEXED_FIELDS)

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert "dropped the INVALID index(es) invoice_number_idx" in result.out
    assert query("postgresql", server, name, INVALID) == []
    assert ("shop", "0002_index") in applied("postgresql", server, name)


def test_index_that_cannot_be_dropped_yet_is_named_and_dropped_by_the_next_deploy(pg_project):
    project, server, name = pg_project
    project.migration("0002_index", CONCURRENT_INDEX)
    project.models(INDEXED_FIELDS)
    with admin_connection(server, name) as holder:
        holder.autocommit = False
        holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        # Its snapshot makes the build wait once its INVALID entry exists; its lock on the table
        # makes DROP INDEX CONCURRENTLY wait too, so neither gets through under the lock timeout.
        holder.cursor().execute("SELECT count(*) FROM shop_invoice")

        result = project.deploy("--lock-timeout", "300ms", "--retries", "0", "--blocker-wait", "0s")

        left = query("postgresql", server, name, INVALID)
        holder.rollback()
    again = project.deploy()

    assert result.code == 4, result.out + result.err
    assert left == [("invoice_number_idx",)]
    assert "INVALID index public.invoice_number_idx on shop_invoice is still there" in result.out
    assert "drop it with DROP INDEX CONCURRENTLY public.invoice_number_idx" in result.out
    assert again.code == 0, again.out + again.err
    assert "dropped the INVALID index(es) invoice_number_idx" in again.out
    assert query("postgresql", server, name, INVALID) == []
