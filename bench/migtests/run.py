"""Migration tests on django-oscar 4.2.1: django-test-migrations vs migration_pilot's `migrator` fixture.

The same test file (project/test_oscar_migrations.py, 12 DTM-style tests) runs in two
virtualenvs built from PyPI (bench/.venvs/mig-dtm with django-test-migrations,
bench/.venvs/mig-pilot with this checkout), one after the other in the same run, on
PostgreSQL and on SQLite (in memory). Each leg is a whole pytest process: Django start-up,
test database creation (all migrations), the tests, teardown. The baseline is the same
process with one trivial test: what creating the test database costs by itself.

    python3 bench/migtests/run.py [--repeat N] [--databases postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
VENVS = ROOT / "bench" / ".venvs"
COMMON = ["Django>=5.2,<5.3", "django-oscar==4.2.1", "pytest>=8", "pytest-django>=4.9", "psycopg[binary]>=3.1"]
TOOLS = {
    "dtm": (VENVS / "mig-dtm", [*COMMON, "django-test-migrations==1.7.0"]),
    "pilot": (VENVS / "mig-pilot", [*COMMON, "-e", str(ROOT)]),
}
TESTS = 12


def ensure_venv(path: Path, requirements: list[str]) -> Path:
    python = path / "bin" / "python"
    if not (path / ".bench-ready").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        (path / ".bench-ready").write_text("ok\n")
    return python


def run_leg(python: Path, database: str, tool: str, target: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    env.update(MIGTESTS_DB=database, MIGTESTS_DB_NAME=f"migtests_{tool}", PYTHONPATH=str(PROJECT))
    started = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pytest", "-q", target], cwd=PROJECT, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    out = done.stdout + done.stderr
    if done.returncode != 0:
        sys.exit(f"{tool} on {database} failed ({target}):\n{out[-4000:]}")
    return elapsed, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--databases", default="postgresql,sqlite")
    args = parser.parse_args()
    pythons = {tool: ensure_venv(path, reqs) for tool, (path, reqs) in TOOLS.items()}
    rows = []
    for database in args.databases.split(","):
        times: dict[str, list[float]] = {"baseline": [], "dtm": [], "pilot": []}
        summary = ""
        for _ in range(args.repeat):
            times["baseline"].append(run_leg(pythons["pilot"], database, "baseline", "trivial.py")[0])
            for tool in ("dtm", "pilot"):
                elapsed, out = run_leg(pythons[tool], database, tool, "test_oscar_migrations.py")
                if not re.search(rf"\b{TESTS} passed\b", out):
                    sys.exit(f"{tool} on {database}: expected {TESTS} passed:\n{out[-3000:]}")
                times[tool].append(elapsed)
                if tool == "pilot":
                    summary = next((line for line in out.splitlines() if line.startswith("migration_pilot:")), "")
        med = {name: statistics.median(values) for name, values in times.items()}
        rows.append((database, med, summary))
    print(f"django-oscar 4.2.1, {TESTS} migration tests, median of {args.repeat}; wall seconds per pytest process\n")
    print("| database | baseline (create test db + 1 trivial test) | django-test-migrations | migration_pilot"
          " | DTM / pilot | per test above baseline: DTM | pilot |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for database, med, _ in rows:
        ratio = med["dtm"] / med["pilot"]
        per_dtm = (med["dtm"] - med["baseline"]) / TESTS
        per_pilot = (med["pilot"] - med["baseline"]) / TESTS
        print(f"| {database} | {med['baseline']:.1f} | {med['dtm']:.1f} | {med['pilot']:.1f} | {ratio:.1f}x"
              f" | {per_dtm:.2f} | {per_pilot:.2f} |")
    for database, _, summary in rows:
        print(f"\n{database}: {summary}")


if __name__ == "__main__":
    main()
