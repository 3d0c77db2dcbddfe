"""A deployable throwaway project on a real database, driven through the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.databases import Server

INITIAL = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.CharField(max_length=30)),
                ("amount", models.IntegerField(default=0)),
            ],
        ),
    ]
'''

ADD_NOTE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
    ]
'''

FAILING = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.RunSQL("SELECT * FROM table_that_does_not_exist", migrations.RunSQL.noop),
    ]
'''

SLOW = '''
import time

from django.db import migrations


def wait(apps, schema_editor):
    time.sleep({seconds})


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(wait, migrations.RunPython.noop)]
'''

IRREVERSIBLE = '''
from django.db import migrations


def touch(apps, schema_editor):
    Invoice = apps.get_model("shop", "Invoice")
    Invoice.objects.filter(number="keep").update(amount=99)


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(touch)]
'''


# The model after ADD_NOTE: what most tests write alongside it.
NOTE_FIELDS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
               "    note = models.CharField(max_length=50, null=True)")


@dataclass
class Result:
    out: str
    err: str
    code: int


class DeployProject:
    """Settings + app `shop` on one real database; migrations are written per test."""

    def __init__(self, root: Path, database: dict[str, Any]) -> None:
        self.root = root
        self.database = database
        (root / "shop" / "migrations").mkdir(parents=True)
        (root / "shop" / "__init__.py").write_text("")
        (root / "shop" / "migrations" / "__init__.py").write_text("")
        (root / "settings.py").write_text(textwrap.dedent(f"""
            SECRET_KEY = "x"
            USE_TZ = True
            INSTALLED_APPS = ["migration_pilot", "shop"]
            DATABASES = {{"default": {database!r}}}
            DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
            BASE_DIR = {str(root)!r}
            MIGRATION_PILOT = {{"backup_dir": {str(root / "backups")!r}}}
        """))
        self.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)")
        self.migration("0001_initial", INITIAL)

    def use_databases(self, databases: dict[str, dict[str, Any]]) -> None:
        """Rewrite settings.py with several DATABASES aliases (one server or several, one role each)."""
        (self.root / "settings.py").write_text(textwrap.dedent(f"""
            SECRET_KEY = "x"
            USE_TZ = True
            INSTALLED_APPS = ["migration_pilot", "shop"]
            DATABASES = {databases!r}
            DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
            BASE_DIR = {str(self.root)!r}
            MIGRATION_PILOT = {{"backup_dir": {str(self.root / "backups")!r}}}
        """))

    def models(self, fields: str) -> None:
        (self.root / "shop" / "models.py").write_text(
            "from django.db import models\n\n\nclass Invoice(models.Model):\n    " + fields + "\n")

    def migration(self, name: str, text: str) -> None:
        (self.root / "shop" / "migrations" / f"{name}.py").write_text(textwrap.dedent(text).lstrip())

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "migration_pilot.cli.main", "--settings", "settings",
                "--pythonpath", str(self.root), *args]

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    def run(self, *args: str, timeout: float = 120) -> Result:
        done = subprocess.run(self.command(*args), cwd=self.root, capture_output=True, text=True,
                              env=self.env(), timeout=timeout, check=False)
        return Result(done.stdout, done.stderr, done.returncode)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), cwd=self.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())

    def deploy(self, *args: str, timeout: float = 120) -> Result:
        return self.run("deploy", "--no-backup", "--retry-delay", "0.1s", *args, timeout=timeout)

    def history(self) -> list[dict[str, Any]]:
        result = self.run("history", "--format", "json", "--limit", "50")
        assert result.code == 0, result.err
        return list(json.loads(result.out))


def database_settings(vendor: str, server: Server | None, name: str) -> dict[str, Any]:
    if vendor == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    assert server is not None
    return server.django_settings(name)


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# A backend of the project's own, as PostGIS is one: it subclasses the PostgreSQL backend and writes down
# every statement its schema editor runs.
LOGGING_BACKEND = '''
from django.db.backends.postgresql import base


class DatabaseSchemaEditor(base.DatabaseWrapper.SchemaEditorClass):
    def execute(self, sql, params=()):
        with open({log!r}, "a") as log:
            log.write(str(sql) + "\\n")
        return super().execute(sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
'''


def logging_backend(root: Path, log: Path) -> str:
    """Write the `ownbackend` package (LOGGING_BACKEND) into `root`; its ENGINE name."""
    (root / "ownbackend").mkdir(parents=True, exist_ok=True)
    (root / "ownbackend" / "__init__.py").write_text("")
    (root / "ownbackend" / "base.py").write_text(textwrap.dedent(LOGGING_BACKEND.format(log=str(log))))
    return "ownbackend"
