"""--statement-timeout bounds RunSQL and the queries RunPython issues; it is never retried (A6)."""

from __future__ import annotations

import time

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import DeployProject, database_settings

# Long enough that "cut off" and "waited out" stay apart however slow the deploy process around it is.
SLEEP = {"postgresql": "SELECT pg_sleep(30)", "mysql": "SELECT SLEEP(30)"}

RUN_SQL = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunSQL("{sql}", migrations.RunSQL.noop)]
'''

RUN_PYTHON = '''
from django.db import migrations


def slow_query(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("{sql}")


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunPython(slow_query, migrations.RunPython.noop)]
'''


@pytest.mark.parametrize("operation", ["RunSQL", "RunPython"])
@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_statement_timeout_stops_a_slow_statement_without_retrying(vendor, operation, request, tmp_path):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_stmt") as name:
        project = DeployProject(tmp_path / "project", database_settings(vendor, server, name))
        template = RUN_SQL if operation == "RunSQL" else RUN_PYTHON
        project.migration("0002_slow", template.format(sql=SLEEP[vendor]))

        started = time.monotonic()
        result = project.deploy("--statement-timeout", "1s", "--lock-timeout", "500ms", "--retries", "3",
                                "--fail-on", "never")
        elapsed = time.monotonic() - started
        history = project.history()
        now_applied = applied(vendor, server, name)

    assert result.code == 3, result.out + result.err
    assert "shop.0002_slow failed" in result.out
    assert ("statement timeout" in result.out if vendor == "postgresql"
            else "max_statement_time exceeded" in result.out)
    assert "retry" not in result.out
    assert elapsed < 25  # the 30-second statement was cut off, not waited out
    assert ("shop", "0002_slow") not in now_applied
    (slow,) = [m for m in history[0]["migrations"] if m["name"] == "0002_slow"]
    assert slow["outcome"] == "failed" and slow["retries"] == 0


# An expression index whose function takes 2 ms a row: building it over 1,000 rows takes seconds.
SLOW_FUNCTION = ("CREATE FUNCTION pilot_slow_len(text) RETURNS integer IMMUTABLE LANGUAGE plpgsql"
                 " AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN length($1); END $$")

SLOW_INDEX = '''
from django.db import migrations


class Migration(migrations.Migration):
    atomic = {atomic}
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL({function!r}, "DROP FUNCTION pilot_slow_len(text)"),
        migrations.RunSQL(
            "CREATE INDEX {concurrently} invoice_slow_idx ON shop_invoice ((pilot_slow_len(number::text)))",
            "DROP INDEX IF EXISTS invoice_slow_idx",
        ),
    ]
'''


@pytest.mark.parametrize("concurrently", [True, False], ids=["concurrently", "blocking"])
def test_statement_timeout_bounds_blocking_ddl_but_not_a_concurrent_index_build(concurrently, pg_deployed):
    project, server, name = pg_deployed
    query("postgresql", server, name,
          "INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 1000) g")
    project.migration("0002_slow_index", SLOW_INDEX.format(
        atomic=not concurrently, concurrently="CONCURRENTLY" if concurrently else "", function=SLOW_FUNCTION))

    result = project.deploy("--statement-timeout", "1s", "--lock-timeout", "500ms", "--fail-on", "never",
                            timeout=120)
    now_applied = applied("postgresql", server, name)
    timeout_after = query("postgresql", server, name, "SHOW statement_timeout")

    if concurrently:  # blocks no traffic while it runs: the statement timeout does not cut it short
        assert result.code == 0, result.out + result.err
        assert ("shop", "0002_slow_index") in now_applied
        took = next(line for line in result.out.splitlines() if "OK shop.0002_slow_index" in line)
        assert float(took.rsplit("(", 1)[1].rstrip("s)")) > 1.0
    else:  # holds SHARE on the table, blocking writes: cut at 1 s
        assert result.code == 3, result.out + result.err
        assert "statement timeout" in result.out
        assert ("shop", "0002_slow_index") not in now_applied
    assert timeout_after == [("0",)]  # a fresh session: nothing leaked to the server's defaults
