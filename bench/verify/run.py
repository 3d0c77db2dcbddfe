#!/usr/bin/env python3
"""Benchmark: `pilot verify` on a fully migrated wagtail database, first (shadow) and cached run,
beside plain `manage.py migrate` from zero, on PostgreSQL.

wagtail is installed from PyPI into bench/.venvs/verify with this project (as
bench/deploy does for its venv). Each repeat: migrate a fresh database from
zero (timed), then `pilot verify --no-cache` (builds the shadow database:
timed as the first run), then `pilot verify` twice (cached; the second is
timed). Every verify must exit 0: a false positive fails the benchmark.
Target (issue 3): the cached run under 3 seconds.

    python3 bench/verify/run.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venvs" / "verify"
WORK = ROOT / "bench" / ".work" / "verify"
PY = VENV / "bin" / "python"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}

WAGTAIL_APPS = [
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.contrib.settings",
    "wagtail.contrib.search_promotions", "wagtail.embeds", "wagtail.sites", "wagtail.users",
    "wagtail.snippets", "wagtail.documents", "wagtail.images", "wagtail.search", "wagtail.admin",
    "wagtail", "modelcluster", "taggit", "django.contrib.admin", "django.contrib.auth",
    "django.contrib.contenttypes", "django.contrib.sessions", "django.contrib.messages",
    "django.contrib.staticfiles", "migration_pilot",
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
        "psycopg[binary]", "rich"])
    (VENV / ".installed").touch()


def write_site() -> None:
    (WORK / "benchsite").mkdir(parents=True, exist_ok=True)
    (WORK / "benchsite" / "__init__.py").write_text("")
    (WORK / "benchsite" / "urls.py").write_text("urlpatterns = []\n")
    (WORK / "benchsite" / "settings.py").write_text(f'''
import os
BASE_DIR = {str(WORK)!r}
SECRET_KEY = "bench"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = {WAGTAIL_APPS!r}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
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


def psql(sql: str) -> str:
    return sh(["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", "postgres", "-qAtc", sql]).stdout


def timed(args: list[str], db: str, expect: int = 0) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"BENCH_DB": db, "DJANGO_SETTINGS_MODULE": "benchsite.settings", "PYTHONPATH": str(WORK),
                "MIGRATION_PILOT_CACHE_DIR": str(WORK / "cache")})
    started = time.perf_counter()
    done = subprocess.run([str(PY), "-m", "django", *args], env=env, cwd=WORK, text=True, capture_output=True,
                          check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def one(legs: dict[str, list[float]]) -> int:
    db = f"pilot_bench_verify_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db}")
    try:
        legs["migrate (from zero)"].append(timed(["migrate", "--no-input", "-v", "0"], db)[0])
        elapsed, out = timed(["pilot", "verify", "--no-cache", "--format", "json"], db)
        legs["pilot verify --no-cache (shadow)"].append(elapsed)
        applied = int(json.loads(out)["applied_migrations"])
        timed(["pilot", "verify"], db)
        elapsed, out = timed(["pilot", "verify", "--format", "json"], db)
        assert json.loads(out)["reference"] == "cache", out
        legs["pilot verify (cached)"].append(elapsed)
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    left = psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'pilot\\_shadow\\_%'").strip()
    assert left == "0", f"{left} shadow database(s) left behind"
    return applied


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ensure_venv()
    write_site()
    shutil.rmtree(WORK / "cache", ignore_errors=True)
    versions = sh([str(PY), "-c", "import django, wagtail; print(django.get_version(), wagtail.__version__)"]
                  ).stdout.split()
    server = psql("SHOW server_version").strip()
    kinds = ["migrate (from zero)", "pilot verify --no-cache (shadow)", "pilot verify (cached)"]
    legs: dict[str, list[float]] = {k: [] for k in kinds}
    applied = 0
    for repeat in range(args.repeat):
        applied = one(legs)
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {legs[k][-1]:.2f}s" for k in kinds), flush=True)
    base = statistics.median(legs["migrate (from zero)"])
    print()
    print(f"wagtail {versions[1]} ({applied} applied migrations), Django {versions[0]}, PostgreSQL {server},"
          f" {os.cpu_count()} cores, median of {args.repeat}")
    print()
    print("| command | median wall s | vs migrate |")
    print("|---|---|---|")
    for kind in kinds:
        median = statistics.median(legs[kind])
        print(f"| `{kind}` | {median:.2f} | {median / base:.2f}x |")
    cached = statistics.median(legs["pilot verify (cached)"])
    print(f"\ncached run target < 3 s: {'met' if cached < 3 else 'MISSED'} ({cached:.2f} s)")
    (WORK / "results-verify.json").write_text(json.dumps({"legs": legs, "applied": applied,
                                                          "django": versions[0], "wagtail": versions[1],
                                                          "postgresql": server}, indent=2))


if __name__ == "__main__":
    main()
