#!/usr/bin/env python3
"""Benchmark: `pilot lint` against django-migration-linter and sqlmigrate + squawk, beside showmigrations.

Part 1 lints every migration of a wagtail project (wagtail, its dependencies
and Django's contrib apps) with each tool in the same run, repeating each
command and taking medians; `manage.py showmigrations` on the same project is
the floor (Django start-up plus one migration-graph load). Part 2 times
`pilot lint` and `lintmigrations` on generated apps whose migrations form one
linear chain of 100, 300 and 1,000 migrations.

The peers are installed from PyPI by name into bench/.venvs/lint-peers, with
this project (editable) so `pilot lint` runs beside the same Django and wagtail:

    python3 bench/lint/run.py [--repeat 3] [--fast-repeat 7] [--sizes 100,300,1000] [--linter-budget 1800]

PostgreSQL at 127.0.0.1:5432 (user postgres) is used for a scratch database:
sqlmigrate and django-migration-linter need a live connection to write
PostgreSQL SQL. `pilot lint` never connects; it is told `--vendor postgresql`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Helper modules beside this script (the script's directory is first on sys.path).
import measure
import sites

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venvs" / "lint-peers"
WORK = ROOT / "bench" / ".work" / "lint"
PY = VENV / "bin" / "python"
SQUAWK = VENV / "bin" / "squawk"
# The wagtail release bench/deploy was measured with; pinned so both benchmarks lint the same graph.
WAGTAIL_VERSION = "8.0.1"
PEERS = {
    "wagtail": [f"wagtail=={WAGTAIL_VERSION}", "Django>=5.2,<5.3", "psycopg[binary]", "-e", str(ROOT)],
    "django-migration-linter": ["django-migration-linter"],
    "squawk-cli": ["squawk-cli"],
}
PILOT_PG = ["pilot", "lint", "--all-apps", "--vendor", "postgresql", "--format", "json", "--fail-on", "never"]
# No cache (each repeat lints everything); sqlmigrate errors (RenameIndex/AlterUniqueTogether that
# introspect a table that is not there) lint that migration as empty instead of aborting the run.
LINTER_FLAGS = ["--no-cache", "--ignore-sqlmigrate-errors"]
PILOT_DEFAULT = ["pilot", "lint", "--all-apps", "--format", "json", "--fail-on", "never"]


def sh(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
       ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, env=env, cwd=cwd)


def ensure_venv() -> dict[str, str]:
    """Create the peers' virtualenv once; returns {peer: why it is missing} for peers that failed."""
    state = VENV / ".peers.json"
    if state.exists():
        return dict(json.loads(state.read_text()))
    print("creating", VENV, "(wagtail, django-migration-linter, squawk-cli, this project)", flush=True)
    sh([sys.executable, "-m", "venv", str(VENV)])
    sh([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    missing: dict[str, str] = {}
    for peer, requirements in PEERS.items():
        done = subprocess.run([str(PY), "-m", "pip", "install", "-q", *requirements], text=True,
                              capture_output=True, check=False)
        if done.returncode != 0:
            missing[peer] = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            print(f"could not install {peer}: {missing[peer]}", flush=True)
    if "wagtail" in missing:
        raise SystemExit("the benchmark needs wagtail and this project in the peers' virtualenv; see above")
    state.write_text(json.dumps(missing))
    return missing


def psql(sql: str, database: str = "postgres") -> str:
    return sh(["psql", "-h", sites.PG["host"], "-p", sites.PG["port"], "-U", sites.PG["user"], "-d", database,
               "-qAtc", sql]).stdout.strip()


@contextmanager
def scratch_database() -> Iterator[str | None]:
    """An empty PostgreSQL database for the `pg` alias, dropped afterwards; None without PostgreSQL."""
    name = f"pilot_bench_lint_{uuid.uuid4().hex[:8]}"
    try:
        psql(f"CREATE DATABASE {name}")
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"PostgreSQL unavailable ({exc}); sqlmigrate + squawk and the linter on PostgreSQL are skipped")
        yield None
        return
    try:
        yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def environment(settings: str, pg_db: str | None, chain: int | None = None) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE would make every run recompile this project's modules and the generated
    # migrations from source: not how anyone runs these tools, so the commands get an ordinary environment.
    dropped = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"DJANGO_SETTINGS_MODULE": f"benchlint.{settings}", "PYTHONPATH": str(WORK),
                "BENCH_PG_DB": pg_db or "postgres"})
    if chain is not None:
        env["BENCH_CHAIN"] = str(chain)
    return env


# --- findings, read from each tool's own output ------------------------------------------------


def pilot_findings(run: measure.Run) -> tuple[int, str]:
    findings = json.loads(run.stdout)["findings"]
    by_severity = Counter(f["severity"] for f in findings)
    rules = Counter(f["rule"] for f in findings)
    detail = ", ".join(f"{n} {s}" for s, n in sorted(by_severity.items()))
    top = ", ".join(f"{r} {n}" for r, n in rules.most_common(6))
    checked = json.loads(run.stdout)["summary"].get("migrations_checked")
    return len(findings), f"{checked} migrations checked; {detail}; top rules: {top}"


def linter_findings(run: measure.Run) -> tuple[int, str]:
    """Issues are the tab-indented lines under each '(app, migration)... ERR/WARNING' line."""
    issues = [line.strip() for line in run.stdout.splitlines() if line.startswith("\t")]
    summary = [line for line in run.stdout.splitlines()
               if line.startswith(("Erroneous migrations", "Migrations with warnings", "Valid migrations"))]
    kinds = Counter(issue.split(" (table")[0] for issue in issues)
    top = ", ".join(f"{k!r} {n}" for k, n in kinds.most_common(4))
    failed = run.stderr.count("Error while executing sqlmigrate")
    return len(issues), "; ".join(summary) + f"; sqlmigrate failed on {failed} (linted as empty); top: {top}"


def squawk_findings(run: measure.Run) -> tuple[int, str]:
    violations = json.loads(run.stdout or "[]")
    rules = Counter(v.get("rule_name") or v.get("rule") or "?" for v in violations)
    return len(violations), "top rules: " + ", ".join(f"{r} {n}" for r, n in rules.most_common(6))


# --- one row of the table ------------------------------------------------------------------------


@dataclass
class Row:
    """Every repeat of one tool: wall seconds, peak MB, and the findings of the last run."""

    tool: str
    walls: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    findings: int | None = None
    detail: str = ""
    note: str = ""
    timed_out: bool = False

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def peak(self) -> float | None:
        return statistics.median(self.peaks) if self.peaks else None

    def add(self, run: measure.Run, reader: Callable[[measure.Run], tuple[int, str]] | None,
            ok_codes: tuple[int, ...] = (0,)) -> None:
        if run.timed_out:
            self.walls.append(run.wall)
            self.timed_out = True
            self.note = f"killed at the {run.wall:.0f} s budget: the time is a lower bound"
            return
        if run.returncode not in ok_codes:
            raise SystemExit(f"{self.tool} failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        self.walls.append(run.wall)
        self.peaks.append(run.peak_mb)
        if reader is not None:
            self.findings, self.detail = reader(run)


def manage(args: list[str]) -> list[str]:
    return [str(PY), "manage.py", *args]


def fmt(value: float | None, digits: int = 2, prefix: str = "") -> str:
    return "n/a" if value is None else f"{prefix}{value:.{digits}f}"


# --- part 1: wagtail -----------------------------------------------------------------------------


def migration_count(env: dict[str, str]) -> dict[str, int]:
    code = ("import django, json; django.setup(); from django.db.migrations.loader import MigrationLoader;"
            " from collections import Counter; l = MigrationLoader(None, ignore_no_migrations=True);"
            " print(json.dumps(Counter(a for a, _ in l.disk_migrations)))")
    return dict(json.loads(sh([str(PY), "-c", code], env=env, cwd=WORK).stdout))


def sqlmigrate_squawk(env: dict[str, str], out: Path, apps: list[str], timeout: float | None
                      ) -> tuple[measure.Run, measure.Run | None, int, list[list[str]]]:
    """sqlmigrate every migration into out/*.sql (one process), then squawk on those files."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(PY), str(Path(__file__).parent / "sqlmigrate_all.py"), str(out), "--database", "pg"]
    for app in apps:
        cmd += ["--app", app]
    sql_run = measure.run(cmd, env=env, cwd=WORK, timeout=timeout)
    if sql_run.timed_out or sql_run.returncode != 0:
        return sql_run, None, 0, []
    report = json.loads(sql_run.stdout.strip().splitlines()[-1])
    squawk = None
    if SQUAWK.exists():
        squawk = measure.run([str(SQUAWK), "--reporter", "json", str(out / "*.sql")], env=env, cwd=WORK)
    return sql_run, squawk, report["files"], report["failed"]


def bench_wagtail(repeat: int, fast_repeat: int, missing: dict[str, str], pg_db: str | None
                  ) -> tuple[list[Row], dict[str, int], str]:
    env = environment("settings_wagtail", pg_db)
    counts = migration_count(env)
    rows = {name: Row(name) for name in (
        "manage.py showmigrations", "pilot lint --all-apps --vendor postgresql",
        "pilot lint --all-apps (vendor of default alias: sqlite)",
        "lintmigrations --database pg (PostgreSQL SQL)", "lintmigrations (default alias: SQLite SQL)",
        "sqlmigrate, every migration (one process, PostgreSQL)", "squawk on that SQL",
        "sqlmigrate + squawk")}
    names = list(rows)
    has_linter = "django-migration-linter" not in missing
    has_squawk = "squawk-cli" not in missing and SQUAWK.exists()
    sql_failures: list[list[str]] = []
    sql_files = 0
    # Set-up (not timed), which also byte-compiles every module: migrate the SQLite default database,
    # because sqlmigrate (alone and inside django-migration-linter) evaluates wagtail's callable
    # defaults such as get_root_collection_id, which query the default database.
    sh(manage(["migrate", "--no-input", "-v", "0"]), env=env, cwd=WORK)
    # The cheap commands run in every round (fast_repeat rounds), the slow ones in the first `repeat`;
    # the order flips every round so a neighbour's load falls on each tool alike.
    paired: list[float] = []
    for rep in range(max(repeat, fast_repeat)):
        steps: list[str] = ["show", "pilot-pg", "pilot-default"] if rep < fast_repeat else []
        if has_linter and rep < repeat:
            steps += ["linter-sqlite"] + (["linter-pg"] if pg_db else [])
        if pg_db and rep < repeat:
            steps.append("sqlmigrate")
        for step in steps if rep % 2 == 0 else list(reversed(steps)):
            if step == "show":
                rows[names[0]].add(measure.run(manage(["showmigrations"]), env=env, cwd=WORK), None)
            elif step == "pilot-pg":
                rows[names[1]].add(measure.run(manage(PILOT_PG), env=env, cwd=WORK), pilot_findings)
            elif step == "pilot-default":
                rows[names[2]].add(measure.run(manage(PILOT_DEFAULT), env=env, cwd=WORK), pilot_findings)
            elif step == "linter-pg":
                rows[names[3]].add(measure.run(manage(["lintmigrations", "--database", "pg", *LINTER_FLAGS]),
                                               env=env, cwd=WORK), linter_findings, (0, 1))
            elif step == "linter-sqlite":
                rows[names[4]].add(measure.run(manage(["lintmigrations", *LINTER_FLAGS]), env=env, cwd=WORK),
                                   linter_findings, (0, 1))
            else:
                sql_run, squawk, sql_files, sql_failures = sqlmigrate_squawk(env, WORK / "sql" / "wagtail", [], None)
                rows[names[5]].add(sql_run, None)
                rows[names[5]].findings = None
                if squawk is not None and has_squawk:
                    rows[names[6]].add(squawk, squawk_findings, (0, 1, 2))
                    rows[names[7]].walls.append(sql_run.wall + squawk.wall)
                    rows[names[7]].peaks.append(max(sql_run.peak_mb, squawk.peak_mb))
                    rows[names[7]].findings = rows[names[6]].findings
        if rep < fast_repeat:
            paired.append(rows[names[1]].walls[-1] / rows[names[0]].walls[-1])
        print(f"round {rep + 1}: " + ", ".join(f"{n.split(' (')[0]} {r.walls[-1]:.2f}s"
                                                for n, r in rows.items() if len(r.walls) > rep), flush=True)
    rows[names[1]].detail += f"; paired ratio to showmigrations, median of {len(paired)} rounds:" \
        f" {statistics.median(paired):.2f} (min {min(paired):.2f}, max {max(paired):.2f})"
    rows[names[5]].detail = f"{sql_files} .sql files" + (
        f"; sqlmigrate failed on {len(sql_failures)} (ValueError on an index or constraint it looks up in the"
        f" empty database): {', '.join(f'{a}.{n}' for a, n, _ in sql_failures)}" if sql_failures else "")
    for peer, why in missing.items():
        for row in rows.values():
            if peer.split("-")[0] in row.tool or (peer == "django-migration-linter" and "lintmigrations" in row.tool):
                row.note = f"not installed: {why}"
    if not pg_db:
        for index in (3, 5, 6, 7):
            rows[names[index]].note = rows[names[index]].note or "skipped: no PostgreSQL"
    return list(rows.values()), counts, names[1]


def print_wagtail(rows: list[Row], counts: dict[str, int], headline: str, repeat: int, fast_repeat: int) -> None:
    floor = rows[0].wall
    pilot = next(r for r in rows if r.tool == headline).wall
    total = sum(counts.values())
    linted_by_linter = sum(n for app, n in counts.items() if app not in ("admin", "auth", "contenttypes", "sessions"))
    print()
    print(f"wagtail {total} migrations in {len(counts)} apps ({linted_by_linter} outside django.contrib, the ones"
          f" django-migration-linter lints); median of {fast_repeat} runs for showmigrations"
          f" and pilot lint, of {repeat} for the others")
    print()
    print("| tool | wall s | peak MB | findings | ratio to pilot lint | ratio to showmigrations |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        wall = row.wall
        ratio_pilot = None if wall is None or not pilot else wall / pilot
        ratio_floor = None if wall is None or not floor else wall / floor
        bound = ">= " if row.timed_out else ""
        findings = "n/a" if row.findings is None else str(row.findings)
        print(f"| `{row.tool}` | {fmt(wall, prefix=bound)} | {fmt(row.peak, 0)} | {findings} |"
              f" {fmt(ratio_pilot, prefix=bound)} | {fmt(ratio_floor, prefix=bound)} |")
    print()
    for row in rows:
        if row.detail or row.note:
            print(f"- `{row.tool}`: {'; '.join(x for x in (row.detail, row.note) if x)}")


# --- part 2: linear chains ------------------------------------------------------------------------


@dataclass
class Scale:
    size: int
    floor: Row
    pilot: Row
    linter: Row


def bench_chains(sizes: list[int], repeat: int, fast_repeat: int, budget: float, pg_db: str | None, has_linter: bool) -> list[Scale]:
    scales: list[Scale] = []
    spent = 0.0
    for size in sizes:
        label = sites.write_chain(WORK, size)
        env = environment("settings_chain", pg_db, size)
        sh(manage(["showmigrations", label]), env=env, cwd=WORK)  # warm-up: byte-compile the chain
        scale = Scale(size, Row("showmigrations"), Row("pilot lint"), Row("lintmigrations"))
        database = ["--database", "pg"] if pg_db else []
        for _ in range(fast_repeat):
            scale.floor.add(measure.run(manage(["showmigrations", label]), env=env, cwd=WORK), None)
            scale.pilot.add(measure.run(manage(["pilot", "lint", label, "--vendor", "postgresql", "--format", "json",
                                                "--fail-on", "never"]), env=env, cwd=WORK), pilot_findings)
        for rep in range(repeat if has_linter else 0):
            left = budget - spent
            last = scale.linter.walls[-1] if scale.linter.walls else 0.0
            if rep > 0 and last > left:
                break
            run = measure.run(manage(["lintmigrations", label, *database, *LINTER_FLAGS]), env=env, cwd=WORK,
                              timeout=max(left, 60.0))
            spent += run.wall
            scale.linter.add(run, linter_findings, (0, 1))
            if run.timed_out:
                break
        print(f"chain {size}: showmigrations {fmt(scale.floor.wall)}s, pilot lint {fmt(scale.pilot.wall)}s,"
              f" lintmigrations {fmt(scale.linter.wall)}s ({len(scale.linter.walls)} runs)", flush=True)
        scales.append(scale)
    return scales


def print_chains(scales: list[Scale], repeat: int) -> None:
    print()
    print(f"generated app, one linear chain of N migrations; pilot and showmigrations median of {repeat},"
          " lintmigrations median of the runs that fit its budget")
    print()
    print("| N | showmigrations s | pilot lint s | pilot above floor, ms per migration | lintmigrations s"
          " | runs | lintmigrations / pilot | pilot findings | linter issues |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scale in scales:
        pilot, floor, linter = scale.pilot.wall, scale.floor.wall, scale.linter.wall
        bound = ">= " if scale.linter.timed_out else ""
        per = None if pilot is None or floor is None else (pilot - floor) / scale.size * 1000
        ratio = None if linter is None or not pilot else linter / pilot
        print(f"| {scale.size} | {fmt(floor)} | {fmt(pilot)} | {fmt(per, 2)} | {fmt(linter, prefix=bound)} |"
              f" {len(scale.linter.walls)} | {fmt(ratio, 1, bound)} | {scale.pilot.findings} |"
              f" {'n/a' if scale.linter.findings is None else scale.linter.findings} |")
    if len(scales) > 1:
        first, last = scales[0], scales[-1]
        growth = last.size / first.size
        print()
        for name, a, b in (("pilot lint", first.pilot, last.pilot), ("lintmigrations", first.linter, last.linter),
                           ("showmigrations", first.floor, last.floor)):
            if a.wall and b.wall:
                print(f"- {name}: {growth:.0f}x the migrations took {b.wall / a.wall:.1f}x the time"
                      + (" (lower bound)" if b.timed_out else ""))


# --- main -----------------------------------------------------------------------------------------


def versions() -> str:
    code = ("import django, wagtail, platform, importlib.metadata as m\n"
            "def v(name):\n"
            "    try:\n        return m.version(name)\n"
            "    except m.PackageNotFoundError:\n        return 'missing'\n"
            "print(platform.python_version(), django.get_version(), wagtail.__version__,"
            " v('django-migration-pilot'), v('django-migration-linter'))")
    python, django, wagtail, pilot, linter = sh([str(PY), "-c", code]).stdout.split()
    squawk = sh([str(SQUAWK), "--version"]).stdout.strip() if SQUAWK.exists() else "squawk missing"
    try:
        server = "PostgreSQL " + psql("SHOW server_version").split()[0]
    except (OSError, subprocess.CalledProcessError):
        server = "no PostgreSQL"
    return (f"{time.strftime('%Y-%m-%d')}, {platform.system()} {platform.machine()}, nproc {os.cpu_count()},"
            f" Python {python}, Django {django}, wagtail {wagtail}, django-migration-pilot {pilot},"
            f" django-migration-linter {linter}, {squawk}, {server}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats per command (median is reported)")
    parser.add_argument("--fast-repeat", type=int, default=7,
                        help="repeats of the cheap commands (showmigrations, pilot lint) on wagtail")
    parser.add_argument("--sizes", default="100,300,1000", help="chain lengths for the scaling part")
    parser.add_argument("--linter-budget", type=float, default=1800.0,
                        help="seconds django-migration-linter may use in the scaling part, all sizes together")
    parser.add_argument("--skip-wagtail", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the running tool is killed and the scratch database dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    missing = ensure_venv()
    sites.write_projects(WORK)
    (WORK / "manage.py").write_text(
        "import sys\n\nfrom django.core.management import execute_from_command_line\n\n"
        "execute_from_command_line(sys.argv)\n")
    header = versions()
    print(header, flush=True)
    results: dict[str, object] = {"machine": header, "missing_peers": missing}
    with scratch_database() as pg_db:
        if not args.skip_wagtail:
            rows, counts, headline = bench_wagtail(args.repeat, args.fast_repeat, missing, pg_db)
            print_wagtail(rows, counts, headline, args.repeat, args.fast_repeat)
            results["wagtail"] = {"counts": counts, "rows": [r.__dict__ for r in rows]}
        if not args.skip_scaling:
            sizes = [int(s) for s in args.sizes.split(",") if s]
            scales = bench_chains(sizes, args.repeat, args.fast_repeat, args.linter_budget, pg_db,
                                  "django-migration-linter" not in missing)
            print_chains(scales, args.fast_repeat)
            results["chains"] = [{"size": s.size, "floor": s.floor.__dict__, "pilot": s.pilot.__dict__,
                                  "linter": s.linter.__dict__} for s in scales]
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nraw figures: {(WORK / 'results.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
