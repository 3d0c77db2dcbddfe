"""`pilot docs` on the bundled example shop, for each vendor, with no database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def manage(*args, sqlite_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    env["SHOP_SQLITE_PATH"] = str(sqlite_path)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=SHOP, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


# One vendor here: the small projects of test_docs_command.py cover MariaDB and SQLite.
@pytest.mark.parametrize("vendor", ["postgresql"])
def test_every_shop_migration_gets_a_page_and_check_passes(vendor, tmp_path):
    out = tmp_path / "docs"

    written = manage("pilot", "docs", "--vendor", vendor, "--output", str(out), sqlite_path=tmp_path / "db.sqlite3")
    check = manage("pilot", "docs", "--vendor", vendor, "--output", str(out), "--check",
                   sqlite_path=tmp_path / "db.sqlite3")

    assert written.returncode == 0, written.stderr
    on_disk = {p.stem for p in SHOP.glob("*/migrations/0*.py")}
    assert {p.stem for p in out.glob("*/0*.md")} == on_disk
    assert check.returncode == 0, check.stdout
    assert not (tmp_path / "db.sqlite3").exists()  # nothing connected to the shop's database
    index = (out / "orders" / "index.md").read_text()
    assert "| [0006_backfill_order_reference](0006_backfill_order_reference.md) |" in index
    backfill = (out / "orders" / "0006_backfill_order_reference.md").read_text()
    assert "Forward SQL: Python code (0006_backfill_order_reference.migrate_data), not SQL." in backfill


def test_unreachable_history_database_is_a_one_line_error(tmp_path):
    from tests.cli.project import make_project

    project = make_project(tmp_path / "site")

    result = project.run("docs", "--output", "out", "--database", "default")

    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert "s3cret-pw" not in result.err + result.out
    assert not (project.root / "out").exists()
