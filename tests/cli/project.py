"""Throwaway Django projects on disk, linted by the real console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

INITIAL = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False, auto_created=True, verbose_name="ID")),
                ("status", models.CharField(max_length=20)),
            ],
        ),
    ]
'''

MODELS = '''
from django.db import models


class Invoice(models.Model):
    status = models.CharField(max_length=20)
'''

ADD_INDEX = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx")),
    ]
'''


@dataclass
class Result:
    """What a command run produced."""

    out: str
    err: str
    code: int


@dataclass
class Project:
    """A project directory with settings module `settings` and app `shop`."""

    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def migration(self, name: str, text: str) -> Path:
        return self.write(f"shop/migrations/{name}.py", text)

    def run(self, *args: str, settings: str | None = "settings") -> Result:
        command = [sys.executable, "-m", "migration_pilot.cli.main"]
        if settings:
            command += ["--settings", settings, "--pythonpath", str(self.root)]
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["COLUMNS"] = "200"
        done = subprocess.run([*command, *args], cwd=self.root, capture_output=True, text=True,
                              env=env, timeout=120, check=False)
        return Result(done.stdout, done.stderr, done.returncode)


def make_project(root: Path, *, database_engine: str = "django.db.backends.postgresql",
                 extra_settings: str = "") -> Project:
    """A minimal project: app `shop` with one model and its initial migration."""
    project = Project(root)
    project.write("settings.py", textwrap.dedent(f'''
        from pathlib import Path
        BASE_DIR = Path(__file__).resolve().parent
        SECRET_KEY = "x"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shop"]
        DATABASES = {{"default": {{"ENGINE": "{database_engine}", "NAME": "unreachable",
                                  "HOST": "192.0.2.1", "PORT": "1", "PASSWORD": "s3cret-pw"}}}}
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        USE_TZ = True
    ''') + textwrap.dedent(extra_settings))
    project.write("shop/__init__.py", "")
    project.write("shop/models.py", MODELS)
    project.write("shop/migrations/__init__.py", "")
    project.migration("0001_initial", INITIAL)
    return project
