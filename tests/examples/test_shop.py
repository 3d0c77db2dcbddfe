"""The bundled example project: it migrates everywhere, and lint finds what it should."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import scratch_database

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def manage(*args, database_url=None, sqlite_path=None):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    if database_url:
        env["DATABASE_URL"] = database_url
    if sqlite_path:
        env["SHOP_SQLITE_PATH"] = str(sqlite_path)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=SHOP, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    return done


def lint_findings(vendor):
    done = manage("pilot", "lint", "--vendor", vendor, "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    return {(f["app"], f["migration"], f["rule"]) for f in json.loads(done.stdout)["findings"]}


def test_lint_flags_the_deliberately_unsafe_migrations_for_postgresql():
    findings = lint_findings("postgresql")

    expected = {
        ("orders", "0003_order_tracking_number_index", "add-index-non-concurrent"),
        ("orders", "0004_order_currency", "add-field-not-null"),
        ("orders", "0006_backfill_order_reference", "unbatched-backfill"),
        ("billing", "0003_rename_memo_invoice_note", "rename-column"),
        ("billing", "0004_alter_invoice_number", "alter-column-type"),
    }
    assert expected <= findings


def test_lint_leaves_the_safe_look_alikes_alone():
    findings = lint_findings("postgresql")

    flagged = {(app, migration) for app, migration, rule in findings
               if rule not in {"run-python-irreversible"}}
    assert ("orders", "0002_order_tracking_number") not in flagged
    assert ("customers", "0003_alter_customer_phone") not in flagged
    assert ("billing", "0002_invoice_status") not in flagged
    assert all(migration is not None for _, migration in flagged)


def roundtrip(**where):
    for args in (["migrate", "--no-input"], ["makemigrations", "--check", "--dry-run"],
                 ["migrate", "orders", "zero", "--no-input"], ["migrate", "customers", "zero", "--no-input"],
                 ["migrate", "--no-input"]):
        done = manage(*args, **where)
        assert done.returncode == 0, (args, done.stdout, done.stderr)


def test_example_migrates_forwards_and_backwards_on_sqlite(tmp_path):
    roundtrip(sqlite_path=tmp_path / "shop.sqlite3")


def test_example_migrates_forwards_and_backwards_on_postgresql(postgresql_server):
    with scratch_database(postgresql_server, "pilot_shop") as name:
        roundtrip(database_url=postgresql_server.url(name))


def test_example_migrates_forwards_and_backwards_on_mariadb(mysql_server):
    with scratch_database(mysql_server, "pilot_shop") as name:
        roundtrip(database_url=mysql_server.url(name))


@pytest.mark.parametrize("vendor", ["postgresql", "mysql", "sqlite"])
def test_lint_runs_clean_of_errors_in_the_command_itself(vendor):
    done = manage("pilot", "lint", "--vendor", vendor, "--fail-on", "never")

    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert f"({vendor})." in done.stdout
