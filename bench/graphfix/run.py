"""fix-conflicts and max-migration check against Django's own makemigrations --merge, on a long history.

    .venv/bin/python bench/graphfix/run.py [--migrations 400] [--repeat 3]

Builds a throwaway project (app shop, N linear migrations each adding a field, then two branches of
two migrations each, made with git), and reports the best wall time of each command over
--repeat runs. Nothing is written by the measured commands (--dry-run); no database is touched
beyond a missing SQLite file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]

MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [{deps}]
    operations = [migrations.AddField("invoice", "f{n}", models.IntegerField(null=True))]
'''
INITIAL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.CreateModel("Invoice", [("id", models.BigAutoField(primary_key=True))])]
'''


def build(root: Path, count: int) -> None:
    (root / "shop" / "migrations").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "migrations" / "__init__.py").write_text("")
    (root / "settings.py").write_text(
        f"SECRET_KEY = 'x'\nINSTALLED_APPS = ['migration_pilot', 'shop']\nUSE_TZ = True\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(root / 'db.sqlite3')!r}}}}}\n"
        "DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'\n")
    (root / ".gitignore").write_text("settings.py\n__pycache__/\n")
    migrations = root / "shop" / "migrations"
    (migrations / "0001_initial.py").write_text(INITIAL)
    previous = "0001_initial"
    for n in range(2, count + 1):
        name = f"{n:04d}_f{n}"
        (migrations / f"{name}.py").write_text(MIGRATION.format(deps=f'("shop", "{previous}")', n=n))
        previous = name
    fields = "".join(f"    f{n} = models.IntegerField(null=True)\n" for n in range(2, count + 3 + 2))
    (root / "shop" / "models.py").write_text("from django.db import models\n\n\nclass Invoice(models.Model):\n"
                                             + fields)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    for offset, parent in ((1, previous), (2, f"{count + 1:04d}_f{count + 1}")):
        n = count + offset
        (migrations / f"{n:04d}_f{n}.py").write_text(MIGRATION.format(deps=f'("shop", "{parent}")', n=n))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feature")
    git(root, "checkout", "-q", "main")
    for offset, parent in ((1, previous), (2, f"{count + 1:04d}_g")):
        n = count + offset
        name = f"{n:04d}_g" if offset == 1 else f"{n:04d}_g2"
        text = MIGRATION.format(deps=f'("shop", "{parent}")', n=n + 2)
        (migrations / f"{name}.py").write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main")
    git(root, "checkout", "-q", "feature")
    git(root, "merge", "-q", "--no-edit", "main")


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    subprocess.run(["git", *args], cwd=root, check=True, env=env, capture_output=True)


def best(command: list[str], root: Path, repeat: int) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(command, cwd=root, env=env, capture_output=True, check=False).returncode
        times.append(time.perf_counter() - start)
    return min(times), code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--migrations", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.migrations)
        base = ["--settings", "settings", "--pythonpath", str(root)]
        pilot = [sys.executable, "-m", "migration_pilot.cli.main", *base]
        django = [sys.executable, "-m", "django"]
        rows = [
            ("pilot fix-conflicts --dry-run", [*pilot, "fix-conflicts", "--dry-run"]),
            ("django makemigrations --merge --dry-run", [*django, "makemigrations", "--merge", "--dry-run",
                                                         "--noinput", *base]),
            ("pilot max-migration check", [*pilot, "max-migration", "check"]),
        ]
        print(f"{args.migrations + 4} migrations in one app, two branches; best of {args.repeat}")
        for label, command in rows:
            wall, code = best(command, root, args.repeat)
            print(f"  {label:45s} {wall:6.2f} s  (exit {code})")


if __name__ == "__main__":
    main()
