#!/usr/bin/env python3
"""Benchmark: `pilot deploy --no-backup` against plain `manage.py migrate`, from zero, on PostgreSQL.

The application is wagtail (hundreds of migrations), installed from PyPI into
bench/.venvs/deploy together with this project. Each repeat migrates a fresh
scratch database with each tool in the same run, alternating the order, and
the medians are compared. Target (issue): no more than 10% overhead.

    python3 bench/deploy/run.py [--repeat 3] [--no-verify-leg]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venvs" / "deploy"
WORK = ROOT / "bench" / ".work" / "deploy"
PY = VENV / "bin" / "python"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}

WAGTAIL_APPS = [
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.contrib.settings",
    "wagtail.contrib.search_promotions", "wagtail.embeds", "wagtail.sites", "wagtail.users",
    "wagtail.snippets", "wagtail.documents", "wagtail.images", "wagtail.search", "wagtail.admin",
    "wagtail", "modelcluster", "taggit", "django.contrib.admin", "django.contrib.auth",
    "django.contrib.contenttypes", "django.contrib.sessions", "django.contrib.messages",
    "django.contrib.staticfiles",
]


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def ensure_venv() -> None:
    if (VENV / ".installed").exists():
        return
    print("creating", VENV, "(wagtail + this project; takes a minute)", flush=True)
    sh([sys.executable, "-m", "venv", str(VENV)])
    sh([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    sh([str(PY), "-m", "pip", "install", "-q", "-e", str(ROOT), "Django>=5.2,<5.3", "wagtail",
        "psycopg[binary]"])
    (VENV / ".installed").touch()


def write_site() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "benchsite").mkdir(exist_ok=True)
    (WORK / "benchsite" / "__init__.py").write_text("")
    (WORK / "benchsite" / "settings.py").write_text(f'''
import os
BASE_DIR = {str(WORK)!r}
SECRET_KEY = "bench"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = {WAGTAIL_APPS!r} + (["migration_pilot"] if os.environ.get("WITH_PILOT") else [])
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True,
              "OPTIONS": {{"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}}}]
ROOT_URLCONF = "benchsite.urls"
STATIC_URL = "/static/"
WAGTAIL_SITE_NAME = "bench"
WAGTAILADMIN_BASE_URL = "http://localhost"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["BENCH_DB"],
                          "USER": "{PG["user"]}", "HOST": "{PG["host"]}", "PORT": "{PG["port"]}"}}}}
''')
    (WORK / "benchsite" / "urls.py").write_text("urlpatterns = []\n")


def psql(sql: str) -> None:
    sh(["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", "postgres", "-qAtc", sql])


def timed(args: list[str], db: str, with_pilot: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"BENCH_DB": db, "DJANGO_SETTINGS_MODULE": "benchsite.settings", "PYTHONPATH": str(WORK)})
    if with_pilot:
        env["WITH_PILOT"] = "1"
    started = time.perf_counter()
    done = subprocess.run([str(PY), "-m", "django", *args], env=env, cwd=WORK, text=True,
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def migration_count() -> int:
    env = {**os.environ, "BENCH_DB": "unused", "DJANGO_SETTINGS_MODULE": "benchsite.settings",
           "PYTHONPATH": str(WORK)}
    code = ("import django; django.setup(); from django.db.migrations.loader import MigrationLoader;"
            " print(len(MigrationLoader(None).disk_migrations))")
    return int(sh([str(PY), "-c", code], env=env).stdout.strip())


def one(kind: str, legs: dict[str, list[float]]) -> None:
    db = f"pilot_bench_deploy_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db}")
    try:
        if kind == "migrate":
            legs[kind].append(timed(["migrate", "--no-input", "-v", "0"], db, with_pilot=False))
        elif kind == "pilot deploy --no-backup":
            legs[kind].append(timed(["pilot", "deploy", "--no-backup", "--fail-on", "never"], db, True))
        else:
            legs[kind].append(timed(["pilot", "deploy", "--no-backup", "--no-verify", "--fail-on", "never"],
                                    db, True))
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-verify-leg", action="store_true", help="also time deploy --no-verify")
    args = parser.parse_args()
    ensure_venv()
    write_site()
    versions = sh([str(PY), "-c", "import django, wagtail; print(django.get_version(), wagtail.__version__)"]).stdout.split()
    kinds = ["migrate", "pilot deploy --no-backup"] + (["pilot deploy --no-backup --no-verify"] if args.no_verify_leg else [])
    legs: dict[str, list[float]] = {k: [] for k in kinds}
    count = migration_count()
    for repeat in range(args.repeat):
        order = kinds if repeat % 2 == 0 else list(reversed(kinds))
        for kind in order:
            one(kind, legs)
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {legs[k][-1]:.2f}s" for k in kinds), flush=True)
    base = statistics.median(legs["migrate"])
    print()
    print(f"wagtail {versions[1]} ({count} migrations), Django {versions[0]}, PostgreSQL, {os.cpu_count()} cores,"
          f" median of {args.repeat}")
    print()
    print("| command | median wall s | ratio vs migrate |")
    print("|---|---|---|")
    for kind in kinds:
        median = statistics.median(legs[kind])
        print(f"| `{kind}` | {median:.2f} | {median / base:.3f} |")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results-deploy.json").write_text(json.dumps({"legs": legs, "migrations": count,
                                                          "django": versions[0], "wagtail": versions[1]}, indent=2))


if __name__ == "__main__":
    main()
