"""Backup retention: `pilot backups` shows when each backup may be pruned; --prune defaults to the setting."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from migration_pilot.backup import catalogue
from migration_pilot.backup.errors import BadOptionError
from migration_pilot.cli.commands import Streams
from migration_pilot.cli.subcommands import backups
from tests.backup.test_catalogue import make_backup


def run_backups(directory, *args):
    import argparse

    parser = argparse.ArgumentParser()
    backups.add_arguments(parser)
    options = vars(parser.parse_args(["--dir", str(directory), *args]))
    out = io.StringIO()
    code = backups.run(options, Streams(out, io.StringIO()))
    return out.getvalue(), code


def test_default_retention_is_24_hours(settings):
    settings.MIGRATION_PILOT = {}

    assert catalogue.default_retention() == timedelta(hours=24)


def test_list_shows_when_each_backup_may_be_pruned(tmp_path, settings):
    settings.MIGRATION_PILOT = {"backup_retention_hours": 48}
    made = make_backup(tmp_path / "b", age=timedelta(0))  # created 2030-01-01, in the future

    out, code = run_backups(tmp_path / "b")
    (entry,) = json.loads(run_backups(tmp_path / "b", "--format", "json")[0])

    assert code == 0
    assert "PRUNABLE FROM" in out.splitlines()[0]
    assert "2030-01-03 00:00:00" in out.splitlines()[1]
    assert entry["id"] == made.id
    assert entry["prunable_at"] == "2030-01-03T00:00:00+00:00"


def test_list_says_now_once_retention_has_passed(tmp_path, settings):
    settings.MIGRATION_PILOT = {}
    old = make_backup(tmp_path / "b", age=datetime(2030, 1, 1, tzinfo=UTC) - datetime(2020, 1, 1, tzinfo=UTC))

    out, _code = run_backups(tmp_path / "b")

    row = next(line for line in out.splitlines() if line.startswith(old.id))
    assert row.endswith("  now")


def test_prune_without_rules_uses_the_retention_setting(tmp_path, settings):
    settings.MIGRATION_PILOT = {"backup_retention_hours": 1}
    age = datetime(2030, 1, 1, tzinfo=UTC) - datetime.now(UTC)
    recent = make_backup(tmp_path / "b", age=age - timedelta(minutes=30), suffix="000001")  # 30 min old
    older = make_backup(tmp_path / "b", age=age + timedelta(hours=2), suffix="000002")  # 2 h old

    out, code = run_backups(tmp_path / "b", "--prune", "--yes")

    assert code == 0
    assert older.id in out and recent.id not in out
    assert [m.id for m in catalogue.list_backups(tmp_path / "b")] == [recent.id]


@pytest.mark.parametrize("value", [-1, "24h", True])
def test_bad_retention_setting_is_a_usage_error(settings, value):
    settings.MIGRATION_PILOT = {"backup_retention_hours": value}

    with pytest.raises(BadOptionError, match="backup_retention_hours"):
        catalogue.default_retention()
