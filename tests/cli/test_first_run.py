"""A new user's first commands: the project importable from its directory, Django's options after the
subcommand, a database that is down, and a plan on an empty database (issue: a clean first run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pipeline.project import DeployProject, database_settings

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"

UNIQUE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    # As django.contrib.contenttypes' 0001: its reverse looks the constraint's name up in the database.
    operations = [migrations.AlterUniqueTogether("invoice", {("number", "amount")})]
'''


def _env():
    return {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH"}}


def test_console_script_finds_the_project_in_the_current_directory(tmp_path):
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))

    done = subprocess.run([sys.executable, "-m", "migration_pilot.cli.main", "--settings", "settings", "lint"],
                          cwd=project.root, env=_env(), capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_manage_py_accepts_djangos_options_after_the_subcommand():
    done = subprocess.run([sys.executable, "manage.py", "pilot", "lint", "--settings", "shopsite.settings",
                           "--vendor", "sqlite", "--fail-on", "never", "-v", "2", "--no-color"],
                          cwd=SHOP, env=_env(), capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "unrecognized arguments" not in done.stderr


def test_plan_with_the_database_down_is_one_line(tmp_path):
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": "nothing", "USER": "u", "PASSWORD": "s3cret-pw",
                "HOST": "127.0.0.1", "PORT": "1"}
    project = DeployProject(tmp_path / "project", database)

    result = project.run("plan")

    assert result.code == 2
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert "127.0.0.1:1" in result.err and "s3cret-pw" not in result.err + result.out


def test_plan_on_an_empty_database_does_not_call_a_reversible_migration_irreversible(
        postgresql_server, tmp_path, scratch_db_access):
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_plan") as name:
        project = DeployProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name))
        project.migration("0002_unique", UNIQUE)

        result = project.run("plan")

    assert result.code == 0, result.err
    block = result.out.split("shop.0002_unique")[1]
    assert "IRREVERSIBLE" not in block and "Found wrong number" not in result.out
    assert "rollback: reversible; its reverse SQL reads names from the database" in block


def test_verify_groups_unapplied_migrations_and_ignores_the_tools_tables_when_not_installed(tmp_path):
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    assert project.deploy().code == 0
    for number in range(2, 6):  # four migrations on disk, not applied
        project.migration(f"000{number}_step", f'''
            from django.db import migrations


            class Migration(migrations.Migration):
                dependencies = [("shop", "000{number - 1}_{'initial' if number == 2 else 'step'}")]
                operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
            ''')
    settings = project.root / "settings.py"
    settings.write_text(settings.read_text().replace('INSTALLED_APPS = ["migration_pilot", "shop"]',
                                                      'INSTALLED_APPS = ["shop"]'))

    result = project.run("verify")

    assert result.code == 1, result.out + result.err  # unapplied migrations are drift
    assert result.out.count("unapplied_migration") == 1
    assert "4 x: shop.0002_step, shop.0003_step, shop.0004_step, shop.0005_step" in result.out
    assert "python manage.py pilot deploy applies them" in result.out
    assert "migration_pilot_" not in result.out


def test_plan_gives_no_lock_and_no_risk_to_an_alter_field_django_emits_no_sql_for(tmp_path):
    import json

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    assert project.deploy().code == 0
    project.migration("0002_help", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0001_initial")]
            operations = [
                migrations.AlterField("invoice", "number", models.CharField(max_length=30, help_text="Printed.")),
                migrations.AlterField("invoice", "amount", models.BigIntegerField(default=0)),
            ]
        ''')

    result = project.run("plan", "--format", "json")

    assert result.code == 0, result.err
    (entry,) = json.loads(result.out)["migrations"]
    help_text, widen = entry["operations"]
    assert help_text["locks"] == []
    assert widen["locks"] and widen["locks"][0]["table"] == "shop_invoice"
