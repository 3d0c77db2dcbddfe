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

sys.path.insert(0, str(ROOT / "bench"))
from common.wagtail_site import WAGTAIL_APPS, ensure_venv, psql, sh, write_site  # noqa: E402


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
    ensure_venv(VENV, ROOT, "rich")
    write_site(WORK, [*WAGTAIL_APPS, "migration_pilot"])
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
