#!/usr/bin/env python3
"""Benchmark: `pilot docs` against `pilot lint` on every migration of a wagtail project.

The issue's goal: documenting the whole application takes under 2x the time
of linting it. Both commands run on the same project (wagtail 8, its
dependencies and Django's contrib apps, every app with migrations), for the
same target (`--vendor`, PostgreSQL by default), with `--all-apps`, and
neither connects to a database (the settings name a PostgreSQL database that
need not exist). Each command runs `--repeat` times (default 3) in a fresh
process, the two interleaved; the medians of wall and CPU time (user + system, which
load from other work on the machine disturbs less) and their ratios are printed. Every docs run must exit 0
and write one page per migration, and the run fails if any page says Django's
schema editor failed for a reason other than needing a live database.

    python3 bench/docs/run.py [--repeat 3] [--vendor postgresql] [--python .venv-realapps/bin/python]
                              [--verify-whole]

`--verify-whole` also renders every page a second way, with every model
rendered as `migrate` does (build_docs(whole=True)), and reports the pages
that differ from the per-operation rendering `pilot docs` uses (expected: none).

The default interpreter is the `.venv-realapps` venv (wagtail from PyPI beside
this project, editable), which `make test` builds.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work" / "docs"

sys.path.insert(0, str(ROOT / "bench"))
from common.wagtail_site import WAGTAIL_APPS, write_site  # noqa: E402

APPS = ["wagtail.contrib.simple_translation", "wagtail.locales", *WAGTAIL_APPS, "migration_pilot"]


def timed(python: Path, args: list[str], cpu: list[float] | None = None) -> tuple[float, str]:
    """Wall time and stdout of one `python -m django ...` run; its CPU time (user + system) goes to `cpu`."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"BENCH_DB": "pilot_bench_docs_never_connected", "DJANGO_SETTINGS_MODULE": "benchdocs.settings",
                "PYTHONPATH": str(WORK)})
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(python), "-m", "django", *args], env=env, cwd=WORK, text=True, capture_output=True,
                          check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


WHOLE = """
import django, time
django.setup()
from migration_pilot.conf import load_config
from migration_pilot.docgen.migrations import build_docs, render_pages
started = time.process_time()
parts = render_pages(build_docs(load_config(), vendor={vendor!r}, all_apps=True))
middle = time.process_time()
whole = render_pages(build_docs(load_config(), vendor={vendor!r}, all_apps=True, whole=True))
ended = time.process_time()
differ = sorted(k for k in parts.keys() | whole.keys() if parts.get(k) != whole.get(k))
print(len(parts), round(middle - started, 2), round(ended - middle, 2), " ".join(differ) or "-")
"""


def verify_whole(python: Path, vendor: str) -> None:
    """Per-operation rendering against whole-state rendering, in one process; prints what differs."""
    out = timed(python, ["shell", "-c", WHOLE.format(vendor=vendor)])[1].strip().splitlines()[-1].split()
    print(f"per-operation vs whole-state rendering ({vendor}): {out[0]} pages, differing: {' '.join(out[3:])};"
          f" build CPU {out[1]} s per-operation, {out[2]} s whole-state")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vendor", default="postgresql", choices=["postgresql", "mysql", "mariadb", "sqlite"])
    parser.add_argument("--python", type=Path, default=ROOT / ".venv-realapps" / "bin" / "python")
    parser.add_argument("--verify-whole", action="store_true",
                        help="Also check the pages against whole-state rendering (see above).")
    args = parser.parse_args()
    if not args.python.exists():
        raise SystemExit(f"{args.python} does not exist: run 'make test' once (it builds .venv-realapps) or pass"
                         " --python with a venv that has wagtail and this project installed.")
    write_site(WORK, APPS, apps_extra="\nWAGTAIL_I18N_ENABLED = True", package="benchdocs")
    lint_vendor = "mysql" if args.vendor == "mariadb" else args.vendor
    lint = ["pilot", "lint", "--all-apps", "--vendor", lint_vendor, "--format", "json", "--fail-on", "never"]
    output = WORK / "pages"
    docs = ["pilot", "docs", "--all-apps", "--vendor", args.vendor, "--output", str(output)]
    legs: dict[str, list[float]] = {"pilot lint": [], "pilot docs": []}
    cpu: dict[str, list[float]] = {"pilot lint": [], "pilot docs": []}
    summary = ""
    for _ in range(args.repeat):  # interleaved, so load from other work on the machine hits both alike
        legs["pilot lint"].append(timed(args.python, lint, cpu["pilot lint"])[0])
        shutil.rmtree(output, ignore_errors=True)  # every docs run writes every page
        elapsed, summary = timed(args.python, docs, cpu["pilot docs"])
        legs["pilot docs"].append(elapsed)
    pages = sorted(output.rglob("*.md"))
    # PostgreSQL/MySQL: whatever needs the server fails with OfflineError, anything else is a bug. SQLite
    # introspects a private empty in-memory database instead, so there the same cases fail differently.
    if args.vendor != "sqlite":
        failures = [p for p in pages if re.search(r"failed offline \((?!OfflineError)", p.read_text())]
        if failures:
            raise SystemExit(f"schema editor failures other than needing a live database in: {failures[:5]}")
    offline_only = sum(p.read_text().count("failed offline (") for p in pages)
    check = timed(args.python, [*docs, "--check"])[0]
    medians = {leg: statistics.median(times) for leg, times in legs.items()}
    version = subprocess.run([str(args.python), "-c", "import wagtail, django; print(wagtail.__version__,"
                              " django.get_version())"], text=True, capture_output=True, check=True).stdout.split()
    print(f"wagtail {version[0]}, Django {version[1]}, Python {platform.python_version()} ({args.python}),"
          f" {os.cpu_count()} cores, target {args.vendor}, {args.repeat} runs each")
    print(summary.strip())
    print(f"{len(pages)} pages; {offline_only} SQL directions need a live database (a constraint name Django reads, a default that queries)")
    cpu_medians = {leg: statistics.median(times) for leg, times in cpu.items()}
    for leg, times in legs.items():
        print(f"{leg:12} median {medians[leg]:.2f} s wall, {cpu_medians[leg]:.2f} s CPU"
              f"  (wall runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"pilot docs --check (pages up to date): {check:.2f} s")
    if args.verify_whole:
        verify_whole(args.python, args.vendor)
    ratio = medians["pilot docs"] / medians["pilot lint"]
    cpu_ratio = cpu_medians["pilot docs"] / cpu_medians["pilot lint"]
    print(f"ratio docs / lint: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (goal < 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
