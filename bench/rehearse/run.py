"""`pilot rehearse` of django-oscar 4.2.1's whole migration plan on PostgreSQL, with N generated rows per table.

Uses the bench/.venvs/realapps virtualenv (Django 5.2, django-oscar 4.2.1, this checkout editable).
The live database is a new PostgreSQL database where only migration_pilot's own migrations are applied
(so its run history exists and every oscar/contrib migration is pending); it is dropped afterwards.

    python bench/rehearse/run.py --rows 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / "bench" / ".venvs" / "realapps" / "bin" / "python"
SETTINGS = '''
import sys
sys.path.insert(0, {migtests!r})
from oscar_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "migration_pilot"]  # noqa: F405
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": {name!r}, "USER": "postgres",
                         "HOST": "127.0.0.1", "PORT": "5432"}}}}
'''


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True,
                   capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    args = parser.parse_args()
    name = f"bench_rehearse_live_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_rehearse_settings.py").write_text(
            SETTINGS.format(migtests=str(ROOT / "bench" / "migtests" / "project"), name=name))
        env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
               "PYTHONPATH": tmp, "DJANGO_SETTINGS_MODULE": "bench_rehearse_settings"}
        psql(f"CREATE DATABASE {name}")
        try:
            subprocess.run([str(PYTHON), "-m", "django", "migrate", "-v0", "--skip-checks", "migration_pilot"], env=env, check=True)
            started = time.perf_counter()
            done = subprocess.run([str(PYTHON), "-m", "migration_pilot.cli.main", "rehearse", "--skip-checks", "--keep-going", "--rows",
                                   str(args.rows), "--format", "json"], env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - started
        finally:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if done.returncode not in (0, 1):
        sys.exit(f"pilot rehearse failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    if os.environ.get("BENCH_VERBOSE"):
        for m in report["migrations"]:
            print(m["app"], m["name"], m["ok"], m["error"], m["generated"], m["not_generated"])
    migrations = report["migrations"]
    total = {key: sum((m[key] or {}).get("seconds", 0) for m in migrations)
             for key in ("forward", "backward", "forward_again")}
    failed = [m for m in migrations if not m["ok"]]
    slow = max(migrations, key=lambda m: m["forward"]["longest_s"]) if migrations else None
    print(f"django-oscar 4.2.1 + contrib, PostgreSQL, --rows {args.rows}: {len(migrations)} migrations rehearsed"
          f" in {elapsed:.1f}s wall (pilot rehearse, exit {done.returncode})")
    print(f"  scratch built in {report['build_s']:.1f}s; forward {total['forward']:.1f}s, backward"
          f" {total['backward']:.1f}s, forward again {total['forward_again']:.1f}s")
    if slow:
        print(f"  longest statement: {slow['forward']['longest_s']:.2f}s in {slow['app']}.{slow['name']}")
    print(f"  {len(failed)} not ok: " + ", ".join(f"{m['app']}.{m['name']}" + (f" ({m['error']})" if m['error'] else
                                                    " (irreversible)" if not m['reversible'] else " (lossy)")
                                           for m in failed))


if __name__ == "__main__":
    main()
