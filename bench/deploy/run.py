#!/usr/bin/env python3
"""Benchmark: `pilot deploy --no-backup` against plain `manage.py migrate`, from zero, on PostgreSQL.

The application is wagtail (hundreds of migrations), installed from PyPI into
bench/.venvs/deploy together with this project. Each repeat migrates a fresh
scratch database with each tool in the same run, alternating the order, and
the medians are compared. Target (issue): no more than 10% overhead.

    python3 bench/deploy/run.py [--repeat 3] [--no-verify-leg] [--gc-leg]

--gc-leg also times the deploy with its heap freeze (pipeline/heap.py) patched
out, to show how much of the result is the deploy's own work and how much the
garbage collector it saves.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

sys.path.insert(0, str(ROOT / "bench"))
from common.wagtail_site import WAGTAIL_APPS, ensure_venv, psql, sh, write_site  # noqa: E402

# Runs manage.py with frozen_heap() replaced by a no-op (bench only: the product has no such switch).
NO_FREEZE = ("import contextlib, sys; import migration_pilot.pipeline.heap as heap;"
             " heap.frozen_heap = contextlib.nullcontext;"
             " from django.core.management import execute_from_command_line;"
             " execute_from_command_line(['django', *sys.argv[1:]])")


# Client CPU seconds (user + system) of each timed run, by leg: the server's work is the same for
# every leg, so the client's CPU is where the tools differ, and it is far steadier than wall time on
# a shared machine.
CPU: dict[str, list[float]] = {}


def timed(args: list[str], db: str, with_pilot: bool, *, freeze: bool = True) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) of one run of manage.py."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"BENCH_DB": db, "DJANGO_SETTINGS_MODULE": "benchsite.settings", "PYTHONPATH": str(WORK)})
    if with_pilot:
        env["WITH_PILOT"] = "1"
    runner = ["-m", "django"] if freeze else ["-c", NO_FREEZE]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(PY), *runner, *args], env=env, cwd=WORK, text=True,
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def migration_count() -> int:
    env = {**os.environ, "BENCH_DB": "unused", "DJANGO_SETTINGS_MODULE": "benchsite.settings",
           "PYTHONPATH": str(WORK)}
    code = ("import django; django.setup(); from django.db.migrations.loader import MigrationLoader;"
            " print(len(MigrationLoader(None).disk_migrations))")
    return int(sh([str(PY), "-c", code], env=env).stdout.strip())


def one(kind: str, legs: dict[str, list[float]]) -> None:
    db = f"pilot_bench_deploy_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db}")
    psql("CHECKPOINT")  # the previous leg's DROP DATABASE leaves dirty buffers: flush them untimed
    deploy = ["pilot", "deploy", "--no-backup", "--fail-on", "never"]
    try:
        if kind == "migrate":
            wall, cpu = timed(["migrate", "--no-input", "-v", "0"], db, with_pilot=False)
        elif kind == "pilot deploy --no-backup":
            wall, cpu = timed(deploy, db, True)
        elif kind == "pilot deploy --no-backup, GC freeze patched out":
            wall, cpu = timed(deploy, db, True, freeze=False)
        else:
            wall, cpu = timed([*deploy, "--no-verify"], db, True)
        legs[kind].append(wall)
        CPU.setdefault(kind, []).append(cpu)
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-verify-leg", action="store_true", help="also time deploy --no-verify")
    parser.add_argument("--gc-leg", action="store_true", help="also time deploy without its heap freeze")
    args = parser.parse_args()
    ensure_venv(VENV, ROOT)
    write_site(WORK, WAGTAIL_APPS, apps_extra=' + (["migration_pilot"] if os.environ.get("WITH_PILOT") else [])')
    versions = sh([str(PY), "-c", "import django, wagtail; print(django.get_version(), wagtail.__version__)"]).stdout.split()
    kinds = ["migrate", "pilot deploy --no-backup"]
    kinds += ["pilot deploy --no-backup --no-verify"] if args.no_verify_leg else []
    kinds += ["pilot deploy --no-backup, GC freeze patched out"] if args.gc_leg else []
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
    # Each round times every leg back to back, so a per-round ratio cancels slow drifts of the machine.
    print("| command | median wall s | ratio of medians | median of per-round ratios | fastest run ratio |")
    print("|---|---|---|---|---|")
    fastest = min(legs["migrate"])
    for kind in kinds:
        median = statistics.median(legs[kind])
        paired = statistics.median(t / m for t, m in zip(legs[kind], legs["migrate"], strict=True))
        print(f"| `{kind}` | {median:.2f} | {median / base:.3f} | {paired:.3f} | {min(legs[kind]) / fastest:.3f} |")
    print()
    cpu_base = statistics.median(CPU["migrate"])
    print("| command | median client CPU s | extra client CPU vs migrate, as a share of migrate's wall time |")
    print("|---|---|---|")
    for kind in kinds:
        cpu = statistics.median(CPU[kind])
        print(f"| `{kind}` | {cpu:.2f} | {(cpu - cpu_base) / base:+.3f} |")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results-deploy.json").write_text(json.dumps({"legs": legs, "cpu": CPU, "migrations": count,
                                                          "django": versions[0], "wagtail": versions[1]}, indent=2))


if __name__ == "__main__":
    main()
