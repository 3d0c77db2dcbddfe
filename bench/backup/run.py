#!/usr/bin/env python3
"""Benchmark: `pilot backup`/`pilot restore` against bare pg_dump/pg_restore with the same options.

A PostgreSQL database of about 1 GB (two tables built with generate_series,
reused between runs) is dumped and restored by each tool in the same run,
alternating which goes first, and the medians are compared; the parallel
leg measures --jobs 2 with the directory format. Target (issue 4): pilot
within 5% of the bare tools. Databases and dumps are dropped at the end
(pass --keep to keep the source database for the next run).

    .venv/bin/python bench/backup/run.py [--repeat 3] [--rows 3500000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work" / "backup"
PY = Path(sys.executable)
PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres"}
SOURCE = "pilot_bench_backup"
TARGET = "pilot_bench_restore"
LOCK_WAIT = "--lock-wait-timeout=60000ms"


def env() -> dict[str, str]:
    return {**os.environ, **PG, "PYTHONPATH": str(WORK), "DJANGO_SETTINGS_MODULE": "benchsite"}


def psql(sql: str, database: str = "postgres") -> str:
    done = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
                          check=True, text=True, capture_output=True, env=env())
    return done.stdout.strip()


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, text=True, capture_output=True, env=env(), check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
    return elapsed


def ensure_source(rows: int) -> None:
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{SOURCE}'")
    if exists and int(psql(f"SELECT pg_database_size('{SOURCE}')")) >= 1_000_000_000:
        print(f"reusing {SOURCE} ({int(psql(f'SELECT pg_database_size({SOURCE!r})')) / 1e9:.2f} GB)", flush=True)
        return
    psql(f"DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)")
    psql(f"CREATE DATABASE {SOURCE}")
    print(f"generating {SOURCE}: 2 x {rows:,} rows ...", flush=True)
    for table in ("events_a", "events_b"):
        psql(f"""
            CREATE TABLE {table} (id bigint PRIMARY KEY, customer_id int NOT NULL, kind text NOT NULL,
                                  payload text NOT NULL, amount numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);
            INSERT INTO {table} SELECT g, g % 100000, (ARRAY['view', 'cart', 'order', 'refund'])[1 + g % 4],
                   md5(g::text) || md5((g * 7)::text), (g % 100000) / 100.0,
                   timestamptz '2024-01-01' + g * interval '1 second'
              FROM generate_series(1, {rows}) g;
            CREATE INDEX ON {table} (customer_id);
        """, SOURCE)
        psql(f"VACUUM ANALYZE {table}", SOURCE)
    print(f"{SOURCE}: {int(psql(f'SELECT pg_database_size({SOURCE!r})')) / 1e9:.2f} GB", flush=True)


def write_site() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "benchsite.py").write_text(f'''
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = ["migration_pilot"]
DATABASES = {{
    "default": {{"ENGINE": "django.db.backends.postgresql", "NAME": "{SOURCE}", "USER": "postgres",
                "HOST": "127.0.0.1", "PORT": "5432"}},
    "restore": {{"ENGINE": "django.db.backends.postgresql", "NAME": "{TARGET}", "USER": "postgres",
                "HOST": "127.0.0.1", "PORT": "5432"}},
}}
MIGRATION_PILOT = {{"backup_dir": "{WORK / 'backups'}"}}
''')


def pilot(*args: str) -> list[str]:
    return [str(PY), "-m", "migration_pilot.cli.main", *args]


def newest_backup() -> str:
    manifests = sorted((WORK / "backups").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return manifests[-1].stem


def clear_dumps() -> None:
    shutil.rmtree(WORK / "backups", ignore_errors=True)
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    (WORK / "bare").mkdir(parents=True)


def leg(name: str, bare: list[str], ours: list[str], repeat: int, before=None) -> tuple[str, float, float]:
    bare_times, our_times = [], []
    for i in range(repeat):
        order = [("bare", bare, bare_times), ("pilot", ours, our_times)]
        if i % 2:
            order.reverse()
        for label, cmd, sink in order:
            if before and label == "bare":
                before()
            sink.append(timed(cmd))
            print(f"  {name} {label}: {sink[-1]:.2f}s", flush=True)
    return name, statistics.median(bare_times), statistics.median(our_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3_500_000)
    parser.add_argument("--keep", action="store_true", help="keep the source database for the next run")
    args = parser.parse_args()
    print(subprocess.run(["df", "-h", str(ROOT)], text=True, capture_output=True).stdout, flush=True)
    write_site()
    ensure_source(args.rows)
    psql(f"DROP DATABASE IF EXISTS {TARGET} WITH (FORCE)")
    psql(f"CREATE DATABASE {TARGET}")
    clear_dumps()
    bare_file = WORK / "bare" / "bare.dump"
    bare_dir = WORK / "bare" / "bare.dumpdir"
    results = []
    try:
        def drop_bare_file() -> None:
            bare_file.unlink(missing_ok=True)

        results.append(leg("backup (custom format)",
                           ["pg_dump", "--format=custom", f"--file={bare_file}", LOCK_WAIT, SOURCE],
                           pilot("backup"), args.repeat, drop_bare_file))
        dump_id = newest_backup()
        # Fill the target once, so every timed restore replaces existing data (--clean), as in production.
        timed(["pg_restore", "--exit-on-error", "--single-transaction", f"--dbname={TARGET}", str(bare_file)])
        results.append(leg("restore (1 transaction)",
                           ["pg_restore", "--exit-on-error", "--clean", "--if-exists", "--single-transaction",
                            f"--dbname={TARGET}", str(bare_file)],
                           pilot("restore", dump_id, "--database", "restore", "--yes"), args.repeat))

        def drop_bare_dir() -> None:
            shutil.rmtree(bare_dir, ignore_errors=True)

        results.append(leg("backup --jobs 2 (directory format)",
                           ["pg_dump", "--format=directory", f"--file={bare_dir}", "--jobs=2", LOCK_WAIT, SOURCE],
                           pilot("backup", "--jobs", "2"), args.repeat, drop_bare_dir))
        dir_id = newest_backup()
        results.append(leg("restore --jobs 2",
                           ["pg_restore", "--exit-on-error", "--clean", "--if-exists", f"--dbname={TARGET}",
                            "--jobs=2", str(bare_dir)],
                           pilot("restore", dir_id, "--database", "restore", "--yes", "--jobs", "2"), args.repeat))
    finally:
        psql(f"DROP DATABASE IF EXISTS {TARGET} WITH (FORCE)")
        if not args.keep:
            psql(f"DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)")
        shutil.rmtree(WORK, ignore_errors=True)
    by_name = {name: (bare, ours) for name, bare, ours in results}
    print("\n| leg | bare tool (median s) | pilot (median s) | pilot / bare |\n|---|---:|---:|---:|")
    for name, bare, ours in results:
        print(f"| {name} | {bare:.2f} | {ours:.2f} | {ours / bare:.3f} |")
    dump1, dump2 = by_name["backup (custom format)"][1], by_name["backup --jobs 2 (directory format)"][1]
    rest1, rest2 = by_name["restore (1 transaction)"][1], by_name["restore --jobs 2"][1]
    print(f"\n--jobs 2 speed-up (pilot): backup {dump1 / dump2:.2f}x, restore {rest1 / rest2:.2f}x")


if __name__ == "__main__":
    main()
