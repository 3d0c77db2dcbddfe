"""`pilot backfill` end to end: a migration's Backfill by name, --status, JSON, migrate, bad input."""

from __future__ import annotations

import json

import pytest

from tests.backfill.project import counter_project, migrate
from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import database_settings


@pytest.fixture
def sqlite_counter(tmp_path, scratch_db_access):
    name = str(tmp_path / "db.sqlite3")
    project = counter_project(tmp_path / "project", database_settings("sqlite", None, name), "sqlite", None, name,
                              rows=1000)
    return project, name


def one_line_error(result, text):
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.err


def test_runs_a_migrations_backfill_by_name_then_migrate_does_not_repeat_it(sqlite_counter):
    project, name = sqlite_counter

    ran = project.run("backfill", "shop", "0003")
    status = project.run("backfill", "--status")
    migrated = migrate(project, "shop")

    assert ran.code == 0, ran.out + ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("Backfill shop.invoice.n.") and lines[0].endswith(
        " on shop_invoice: starting: ~1,000 rows, keys up to 1000.")
    assert lines[1] == "  batch 1: 100/1000 rows (10%), " + lines[1].split(", ", 1)[1]
    assert "  analyzed shop_invoice in " in ran.out
    assert lines[-1].startswith("Done: shop.invoice.n.") and ": 1000 rows scanned, 1000 updated in 10 batches;" \
        in lines[-1]
    header, row = status.out.splitlines()
    assert header.split() == ["NAME", "TABLE", "ROWS", "DONE", "SCANNED", "LAST", "KEY", "STATE", "RATE", "ETA"]
    assert row.split()[1:6] == ["shop_invoice", "1,000", "1,000/1,000", "1000", "done"] and row.endswith("-")
    assert "Backfill" in migrated.stdout or "OK" in migrated.stdout
    assert ("shop", "0003_fill") in applied("sqlite", None, name)
    assert query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE n <> 1") == [(0,)]


def test_json_events_and_status(sqlite_counter):
    project, name = sqlite_counter

    ran = project.run("backfill", "shop.Invoice", "--update", "number=concat('N-', id)", "--where", "amount == 3",
                      "--batch-size", "300", "--min-batch-size", "300", "--max-batch-size", "300", "--format", "json")
    status = project.run("backfill", "--status", "--format", "json")

    events = [json.loads(line) for line in ran.out.splitlines()]
    assert ran.code == 0, ran.err
    assert [e["event"] for e in events] == ["started", *["batch"] * 4, "analyzed", "finished"]
    assert events[-1]["rows_done"] == query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE amount = 3")[0][0]
    assert query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE number LIKE 'N-%'")[0][0] \
        == events[-1]["rows_done"]
    (checkpoint,) = json.loads(status.out)
    assert checkpoint["name"] == events[0]["name"] and checkpoint["state"] == "done"
    assert checkpoint["rows_scanned"] == 1000 and checkpoint["last_key"] == "1000"


def test_per_row_function_from_the_command_line(sqlite_counter):
    project, name = sqlite_counter

    ran = project.run("backfill", "shop.Invoice", "--function", "shop.fill:fill", "--fields", "number,n")

    assert ran.code == 0, ran.out + ran.err
    assert query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE n = 1 AND number = 'N-' || id") \
        == [(1000,)]


def test_restart_forgets_the_checkpoint(sqlite_counter):
    project, name = sqlite_counter
    args = ("backfill", "shop.Invoice", "--update", "n=n+1")

    first, again, restarted = project.run(*args), project.run(*args), project.run(*args, "--restart")

    assert first.code == 0 and "Done:" in first.out
    assert "already done (1000 rows); nothing to do" in again.out
    assert restarted.code == 0 and "Done:" in restarted.out
    assert query("sqlite", None, name, "SELECT MIN(n), MAX(n) FROM shop_invoice") == [(2, 2)]


@pytest.mark.parametrize(("args", "message"), [
    (("shop.Nope", "--update", "n=1"), "Unknown model 'shop.Nope': no installed app has it."),
    (("shop.Pair", "--update", "a=1"), "Model shop.Pair has no single-column primary key"),
    (("shop", "0002"), "Migration shop.0002_counter has no Backfill operation."),
])
def test_bad_input_is_one_line_and_exit_2(sqlite_counter, args, message):
    project, name = sqlite_counter

    one_line_error(project.run("backfill", *args), message)
    assert query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE n <> 0") == [(0,)]


def test_refused_inside_an_atomic_migration_on_postgresql(postgresql_server, tmp_path, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_bf") as name:
        project = counter_project(tmp_path / "project", database_settings("postgresql", postgresql_server, name),
                                  "postgresql", postgresql_server, name, rows=200, atomic=True)

        refused = migrate(project, "shop", check=False)

        assert refused.returncode != 0
        assert "Backfill shop.invoice.n." in refused.stderr
        assert "cannot run inside a transaction" in refused.stderr
        assert "(set atomic = False on the migration)" in refused.stderr
        assert ("shop", "0003_fill") not in applied("postgresql", postgresql_server, name)
        assert query("postgresql", postgresql_server, name, "SELECT COUNT(*) FROM shop_invoice WHERE n <> 0") == [(0,)]


def test_a_terminal_gets_a_progress_bar_with_rate_and_eta(tmp_path, scratch_db_access):
    import argparse
    from io import StringIO

    from django.apps import apps
    from django.db.migrations.executor import MigrationExecutor

    from migration_pilot.cli.commands import Streams
    from migration_pilot.cli.subcommands import backfill as command
    from tests.databases import django_connection

    with django_connection(None, str(tmp_path / "bar.sqlite3")) as connection:
        MigrationExecutor(connection).migrate([("testapp", "0001_initial"),
                                               ("migration_pilot", "0004_backfill_checkpoint")])
        customer = apps.get_model("testapp", "Customer").objects.using(connection.alias).create(name="a", email="a@b")
        order = apps.get_model("testapp", "Order")
        order.objects.using(connection.alias).bulk_create([order(customer=customer) for _ in range(500)])
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        options = vars(parser.parse_args(["testapp.Order", "--update", "quantity=quantity + 1", "--database",
                                          connection.alias, "--batch-size", "100", "--min-batch-size", "100",
                                          "--max-batch-size", "100"]))
        out = StringIO()

        code = command.run(options, Streams(out, StringIO(), colour=True))

        assert code == 0
        assert order.objects.using(connection.alias).filter(quantity=2).count() == 500
    text = out.getvalue()
    assert "testapp_order" in text and "500/500" in text and " rows/s  ETA 0s" in text
    assert "  batch " not in text  # the bar replaces the plain lines
    assert text.splitlines()[-1].startswith("Done: testapp.order.quantity.")


def test_an_applied_migration_without_checkpoint_is_not_run_again_unless_restarted(sqlite_counter):
    project, name = sqlite_counter
    migrate(project, "shop")  # runs the Backfill: every n is 1
    query("sqlite", None, name, "DELETE FROM migration_pilot_backfillcheckpoint")

    refused = project.run("backfill", "shop", "0003_fill")
    restarted = project.run("backfill", "shop", "0003_fill", "--restart")

    one_line_error(refused, "Migration shop.0003_fill is applied but has no checkpoint for its Backfill shop.invoice.n.")
    assert "Add --restart to run it again over every row." in refused.err
    assert restarted.code == 0, restarted.err
    assert query("sqlite", None, name, "SELECT MIN(n), MAX(n) FROM shop_invoice") == [(2, 2)]
