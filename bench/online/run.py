#!/usr/bin/env python3
"""Benchmark: migrations under real application traffic, three ways.

Legs, on the same migration files, each run on its own scratch copy of one big table:
  plain     `manage.py migrate` (Django 5.2, django.db.backends.postgresql)
  dpgzdm    `manage.py migrate` with django-pg-zero-downtime-migrations (from PyPI) as the ENGINE and
            its documented "most safe" settings; when it refuses (UnsafeOperationException), a run
            with ZERO_DOWNTIME_MIGRATIONS_RAISE_FOR_UNSAFE = False follows, labelled dpgzdm-forced
  pilot     `migration-pilot deploy --no-backup` with its defaults; when it refuses (exit 1, nothing
            applied), a run with `--fail-on never` follows, labelled pilot-forced

While a leg migrates, 4 threads (one connection each, autocommit) send ~200 ops/s to 127.0.0.1:
INSERT with the old code's columns, UPDATE by primary key, and a prepared SELECT by primary key that
returns every old column (so a column type change shows PostgreSQL's "cached plan must not change
result type"). Each operation's start, end and error are recorded. Per run: the longest stretch with
no write completing, p50/p99 write latency, errors by kind, migration wall time, exit code and
whether the migration was applied.

    python3 bench/online/run.py [--rows 2000000] [--repeat 3] [--scenario NAME ...] [--leg NAME ...]
                                [--json out.json]

The driver needs only the standard library and psycopg: when psycopg is not importable it creates
bench/.venvs/online (Django 5.2, psycopg, django-pg-zero-downtime-migrations) and re-runs itself
there. The pilot leg runs this checkout from /work/main/.venv (--pilot-python to change).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venvs" / "online"
WORK = ROOT / "bench" / ".work" / "online"
HOST, PORT, USER = "127.0.0.1", 5432, "postgres"  # traffic goes to this machine only
PREFIX = "pilot_bench_online_"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import INITIAL, OLD_COLUMNS, SCENARIOS, Scenario  # noqa: E402


def ensure_driver() -> None:
    """Re-run this script under bench/.venvs/online when psycopg is missing here."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if Path(sys.prefix).resolve() == VENV.resolve():
            raise SystemExit("psycopg is missing from bench/.venvs/online; delete that folder and re-run") from None
        ensure_venv()
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def ensure_venv() -> Path:
    """bench/.venvs/online: Django 5.2, psycopg and django-pg-zero-downtime-migrations, by name from PyPI."""
    python = VENV / "bin" / "python"
    if (VENV / ".installed").exists():
        return python
    print("creating", VENV, "(Django 5.2, psycopg, django-pg-zero-downtime-migrations)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "Django>=5.2,<5.3", "psycopg[binary]",
                    "django-pg-zero-downtime-migrations"], check=True)
    (VENV / ".installed").touch()
    return python


# --------------------------------------------------------------------------------------------------
# Databases


def dsn(database: str) -> str:
    return f"host={HOST} port={PORT} user={USER} dbname={database}"


def admin(sql: str, database: str = "postgres", *, timeout: float = 600) -> list[tuple[Any, ...]]:
    """One statement as the superuser, autocommit, bounded by a statement timeout."""
    import psycopg

    with psycopg.connect(dsn(database), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"SET statement_timeout = '{int(timeout * 1000)}ms'")
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


CREATED: set[str] = set()  # every database this process created and has not dropped yet


def create_database(name: str, template: str | None = None) -> None:
    CREATED.add(name)
    admin(f"CREATE DATABASE {quote(name)}" + (f" TEMPLATE {quote(template)}" if template else ""))


def drop_database(name: str) -> None:
    admin(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
    CREATED.discard(name)


def fill_sql(rows: int) -> str:
    return f"""
        INSERT INTO shop_customer (name) SELECT 'customer ' || i FROM generate_series(1, 1000) AS i;
        INSERT INTO shop_order (reference, status, quantity, amount, note, created)
        SELECT 'ref-' || i, (ARRAY['new', 'paid', 'shipped', 'done'])[1 + i % 4], i % 100, i % 1000,
               'note ' || i, now() - i * interval '1 second'
        FROM generate_series(1, {int(rows)}) AS i;
    """


# --------------------------------------------------------------------------------------------------
# Projects


@dataclass(frozen=True)
class Leg:
    """How one leg migrates: which python, which settings, which command."""

    name: str
    label: str
    python: Path
    engine: str = "django.db.backends.postgresql"
    extra_settings: str = ""
    pilot: bool = False
    forced_of: str = ""  # the default leg this forced run follows after a refusal

    def command(self, project: Path) -> list[str]:
        if self.pilot:
            forced = ["--fail-on", "never"] if self.forced_of else []
            # The release's pre-deploy phase: what runs while the old code still serves traffic. A contract
            # step (makesafe's post-deploy migration) belongs after the code rollout, outside this window;
            # for every other scenario the phase changes nothing.
            return [str(self.python), "-m", "migration_pilot.cli.main", "--settings", "settings",
                    "--pythonpath", str(project), "deploy", "--no-backup", "--phase", "pre", *forced]
        return [str(self.python), "manage.py", "migrate", "--no-input"]


DPGZDM_SETTINGS = """
# django-pg-zero-downtime-migrations: the "most safe settings" of its README.
ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT = "2s"
ZERO_DOWNTIME_MIGRATIONS_STATEMENT_TIMEOUT = "2s"
ZERO_DOWNTIME_MIGRATIONS_FLEXIBLE_STATEMENT_TIMEOUT = True
ZERO_DOWNTIME_MIGRATIONS_RAISE_FOR_UNSAFE = {raise_for_unsafe}
"""


def legs(pilot_python: Path) -> dict[str, Leg]:
    python = VENV / "bin" / "python"
    engine = "django_zero_downtime_migrations.backends.postgres"
    return {
        "plain": Leg("plain", "plain `migrate`", python),
        "dpgzdm": Leg("dpgzdm", "django-pg-zero-downtime-migrations", python, engine,
                      DPGZDM_SETTINGS.format(raise_for_unsafe=True)),
        "dpgzdm-forced": Leg("dpgzdm-forced", "dpgzdm, RAISE_FOR_UNSAFE = False", python, engine,
                             DPGZDM_SETTINGS.format(raise_for_unsafe=False), forced_of="dpgzdm"),
        "pilot": Leg("pilot", "`pilot deploy`", pilot_python, pilot=True),
        "pilot-forced": Leg("pilot-forced", "`pilot deploy --fail-on never`", pilot_python, pilot=True,
                            forced_of="pilot"),
    }


SETTINGS = '''"""Generated by bench/online/run.py: do not edit."""
SECRET_KEY = "bench"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
BASE_DIR = {base!r}
INSTALLED_APPS = {apps!r}
DATABASES = {{"default": {{"ENGINE": {engine!r}, "NAME": {name!r}, "USER": {user!r}, "HOST": {host!r},
                          "PORT": "{port}"}}}}
{extra}'''

MANAGE = '''#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
'''


def write_project(folder: Path, leg: Leg, database: str, migrations: list[tuple[str, str]], models: str) -> None:
    """A Django project in `folder`: settings for `leg`, app `shop` with `migrations` and `models`."""
    if folder.exists():
        shutil.rmtree(folder)
    app = folder / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(models)
    for name, text in migrations:
        (app / "migrations" / f"{name}.py").write_text(text)
    apps = ["migration_pilot", "shop"] if leg.pilot else ["shop"]
    (folder / "settings.py").write_text(SETTINGS.format(
        base=str(folder), apps=apps, engine=leg.engine, name=database, user=USER, host=HOST, port=PORT,
        extra=leg.extra_settings))
    (folder / "manage.py").write_text(MANAGE)


def project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["DJANGO_SETTINGS_MODULE"] = "settings"
    return env


def manage(python: Path, project: Path, *args: str, timeout: float = 600) -> None:
    """Untimed set-up through manage.py; fails loudly."""
    done = subprocess.run([str(python), "manage.py", *args], cwd=project, env=project_env(), text=True,
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


# --------------------------------------------------------------------------------------------------
# Traffic

INSERT = ("INSERT INTO shop_order (reference, status, quantity, amount, note, created)"
          " VALUES (%s, %s, %s, %s, %s, now())")
UPDATE = "UPDATE shop_order SET status = %s, note = %s WHERE id = %s"
SELECT = f"SELECT {', '.join(OLD_COLUMNS)} FROM shop_order WHERE id = %s"
KINDS = ("insert", "update", "select")


@dataclass(slots=True)
class Op:
    kind: str
    start: float
    end: float
    error: str = ""


class Worker(threading.Thread):
    """One application thread: its own connection, a fixed pace, every operation recorded."""

    def __init__(self, index: int, database: str, rows: int, rate: float, stop: threading.Event) -> None:
        super().__init__(name=f"traffic-{index}", daemon=True)
        self.index, self.database, self.rows, self.interval, self.stop = index, database, rows, 1 / rate, stop
        self.ops: list[Op] = []
        self.conn: Any = None
        self.busy_since: float | None = None
        self.failure = ""
        self.generation = 0  # bumped to prepare the SELECT again (a new statement text, a new name)

    def connect(self) -> None:
        import psycopg

        self.conn = psycopg.connect(dsn(self.database), autocommit=True, connect_timeout=10,
                                    application_name="bench-online-traffic")

    def run(self) -> None:
        import psycopg

        rng = random.Random(self.index)
        try:
            self.connect()
        except psycopg.Error as exc:
            self.failure = f"connect: {exc}"
            return
        step, due = self.index, time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now < due:
                self.stop.wait(due - now)
                continue
            due = max(due + self.interval, now)  # a stalled worker skips the slots it missed
            kind = KINDS[step % 3]
            step += 1
            start = time.monotonic()
            self.busy_since = start
            error = ""
            try:
                self.execute(kind, rng)
            except psycopg.Error as exc:
                message = (exc.diag.message_primary if getattr(exc, "diag", None) else None) or str(exc)
                error = f"{type(exc).__name__}: {message.splitlines()[0][:90]}"
                if "cached plan must not change result type" in message:
                    # The server keeps failing this prepared statement until it is prepared again; do
                    # what pgjdbc does and re-prepare, so each connection fails once per type change.
                    self.generation += 1
                if self.conn.broken or self.conn.closed:
                    with contextlib.suppress(psycopg.Error):
                        self.connect()
            self.busy_since = None
            self.ops.append(Op(kind, start, time.monotonic(), error))
        with contextlib.suppress(Exception):
            self.conn.close()

    def execute(self, kind: str, rng: random.Random) -> None:
        if kind == "insert":
            self.conn.execute(INSERT, (uuid.uuid4().hex, "new", rng.randint(1, 99), rng.randint(0, 999), "app"))
        elif kind == "update":
            status = rng.choice(("paid", "shipped", "done"))
            self.conn.execute(UPDATE, (status, f"app {status}", rng.randint(1, self.rows)))
        else:
            select = SELECT + (f" /* prepared again {self.generation} */" if self.generation else "")
            self.conn.execute(select, (rng.randint(1, self.rows),), prepare=True).fetchone()


class Reader(threading.Thread):
    """A long read transaction: BEGIN; SELECT ... LIMIT 1; then it sits for `hold` seconds."""

    def __init__(self, database: str, hold: float, stop: threading.Event) -> None:
        super().__init__(name="reader", daemon=True)
        self.database, self.hold, self.stop = database, hold, stop
        self.ready = threading.Event()
        self.failure = ""

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(dsn(self.database), connect_timeout=10, application_name="bench-online-reader") as conn:
                conn.execute("SELECT id, status FROM shop_order LIMIT 1").fetchall()
                self.ready.set()
                self.stop.wait(self.hold)
                conn.rollback()
        except psycopg.Error as exc:  # e.g. terminated by a tool: that is a result too
            self.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
        finally:
            self.ready.set()


class Traffic:
    """The 4 workers (and the reader, when a scenario has one); stops them even if a query hangs."""

    def __init__(self, database: str, rows: int, *, workers: int, rate: float) -> None:
        self.stop_event = threading.Event()
        self.workers = [Worker(i, database, rows, rate / workers, self.stop_event) for i in range(workers)]
        self.reader: Reader | None = None
        self.database = database

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def start_reader(self, hold: float) -> None:
        self.reader = Reader(self.database, hold, self.stop_event)
        self.reader.start()
        self.reader.ready.wait(15)

    def stop(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + 3
        for thread in [*self.workers, *([self.reader] if self.reader else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:  # still inside a query: cancel it
            if worker.is_alive() and worker.conn is not None:
                with contextlib.suppress(Exception):
                    worker.conn.cancel()
        for thread in [*self.workers, *([self.reader] if self.reader else [])]:
            thread.join(10)

    def ops(self) -> list[Op]:
        return sorted((op for worker in self.workers for op in worker.ops), key=lambda op: op.start)


# --------------------------------------------------------------------------------------------------
# One run


@dataclass
class Run:
    scenario: str
    leg: str
    repeat: int
    status: str = ""  # completed | refused | failed | timed out | skipped
    exit_code: int | None = None
    applied: bool = False
    wall_s: float = 0.0
    gap_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    writes: int = 0
    ops: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    output_tail: str = ""
    reader: str = ""
    online: list[str] = field(default_factory=list)  # pilot's "online: ..." lines: what it ran instead
    makesafe: str = ""  # what `pilot makesafe` said when it rewrote the migration before the deploy


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measure(run: Run, ops: list[Op], t0: float, t1: float, lead: float) -> None:
    """Fill the traffic figures of `run` from the operations around the migration window [t0, t1]."""
    writes = [op for op in ops if op.kind != "select"]
    done = sorted(op.end for op in writes if not op.error)
    before = [end for end in done if end <= t0]
    marks = [before[-1] if before else t0 - lead, *[end for end in done if t0 < end <= t1], t1]
    run.gap_s = max(b - a for a, b in itertools.pairwise(marks))
    window = [op for op in writes if op.end >= t0 - lead and op.start <= t1]
    latencies = [(op.end - op.start) * 1000 for op in window]
    run.p50_ms, run.p99_ms = percentile(latencies, 50), percentile(latencies, 99)
    run.max_ms = max(latencies, default=0.0)
    run.writes, run.ops = len(window), len(ops)
    run.errors = dict(Counter(f"{op.kind} {op.error}" for op in ops if op.error))


def applied(database: str, names: list[str]) -> bool:
    rows = admin("SELECT name FROM django_migrations WHERE app = 'shop'", database)
    return set(names) <= {row[0] for row in rows}


def migrate(leg: Leg, project: Path, timeout: float) -> tuple[int | None, str, float]:
    """Run the leg's command; (exit code or None on timeout, output tail, wall seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen(leg.command(project), cwd=project, env=project_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except BaseException:
        stop_process(proc)
        out = proc.communicate()[0] if proc.stdout else ""
        code = None
        if sys.exc_info()[0] is not subprocess.TimeoutExpired:
            raise
    return code, (out or "")[-3000:], time.monotonic() - started


def stop_process(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the migration's process group, SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_once(scenario: Scenario, leg: Leg, repeat: int, template: str, args: argparse.Namespace) -> Run:
    """Copy the template, set the scenario up, migrate under traffic, measure, drop the copy."""
    run = Run(scenario.name, leg.name, repeat)
    database = f"{PREFIX}{uuid.uuid4().hex[:10]}"
    project = WORK / "projects" / f"{scenario.name}-{leg.name}"
    measured = [name for name, _ in scenario.measured]
    traffic: Traffic | None = None
    try:
        create_database(database, template)
        admin("CHECKPOINT")  # the copy's dirty buffers are written now, not during the measured window
        write_project(project, leg, database, [("0001_initial", INITIAL), *scenario.setup, *scenario.measured],
                      scenario.models_py())
        if leg.pilot:
            manage(leg.python, project, "migrate", "migration_pilot", "--no-input")
        if scenario.setup:
            manage(leg.python, project, "migrate", "shop", scenario.setup[-1][0], "--no-input")
        if leg.pilot and scenario.needs == "makesafe":
            run.makesafe = makesafe(leg, project, [name for name, _ in scenario.measured])
        traffic = Traffic(database, args.rows, workers=args.workers, rate=args.rate)
        traffic.start()
        time.sleep(args.lead)
        if scenario.reader:
            traffic.start_reader(args.reader_hold)
        t0 = time.monotonic()
        code, tail, run.wall_s = migrate(leg, project, args.timeout)
        t1 = time.monotonic()
        traffic.stop_event.wait(args.tail)
        traffic.stop()
        run.exit_code, run.output_tail = code, tail
        run.online = online_lines(tail)
        run.applied = applied(database, measured)
        run.reader = traffic.reader.failure if traffic.reader else ""
        if code is None:
            run.status = f"timed out after {args.timeout:.0f} s"
        elif code == 0 and run.applied:
            run.status = "completed"
        elif not run.applied and refused(leg, code, tail):
            run.status = "refused"
        else:
            run.status = f"failed (exit {code})"
        measure(run, traffic.ops(), t0, t1 + args.tail, args.lead)
        failures = [w.failure for w in traffic.workers if w.failure]
        if failures:
            run.errors["traffic could not connect"] = len(failures)
    finally:
        if traffic is not None:
            traffic.stop()
        drop_database(database)
    return run


def makesafe(leg: Leg, project: Path, migrations: list[str]) -> str:
    """Untimed: `pilot makesafe shop NAME` on each measured migration, as the developer would before deploying."""
    said = []
    for name in migrations:
        done = subprocess.run([str(leg.python), "-m", "migration_pilot.cli.main", "--settings", "settings",
                               "--pythonpath", str(project), "makesafe", "shop", name, "--vendor", "postgresql"],
                              cwd=project, env=project_env(), text=True, capture_output=True, timeout=300, check=False)
        said.append(f"exit {done.returncode}: {(done.stdout + done.stderr).strip()}")
    return "\n".join(said)


def online_lines(output: str) -> list[str]:
    """pilot's "online: ..." lines (what it ran instead of the plain SQL), without their timings."""
    return [re.sub(r" \([\d.]+s( in all)?\)$", "", line.strip().removeprefix("online: "))
            for line in output.splitlines() if line.strip().startswith("online:")]


def monitor_wait(output: str) -> float | None:
    """The longest wait of another session that pilot's own impact monitor reported, if it printed one."""
    found = re.search(r"longest wait by another session ([\d.]+)s", output)
    return float(found.group(1)) if found else None


def refused(leg: Leg, code: int, output: str) -> bool:
    """Did the tool decline to run the migration (as opposed to trying and failing)?"""
    if leg.pilot:
        return code == 1
    return "UnsafeOperationException" in output


# --------------------------------------------------------------------------------------------------
# Report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(runs: list[Run]) -> dict[str, Any]:
    """Medians over the repeats of one scenario and leg; the traffic figures only over the runs that migrated."""
    measured = [r for r in runs if r.status != "skipped"]
    ran = [r for r in measured if r.status != "refused"] or measured  # a refusal changes nothing
    errors: Counter[str] = Counter()
    for r in ran:
        errors.update(r.errors)
    statuses = Counter(r.status for r in measured)
    online = dict.fromkeys(re.sub(r"copied [\d,]+ row\(s\)", "copied the row(s)", line)
                           for r in ran for line in online_lines(r.output_tail))
    waits = [w for r in ran if (w := monitor_wait(r.output_tail)) is not None]
    return {
        "runs": len(measured),
        "ran": len(ran),
        "status": ", ".join(f"{s} {n}/{len(measured)}" if len(statuses) > 1 else s for s, n in statuses.items()),
        "completed": sum(r.status == "completed" for r in measured),
        "refused": sum(r.status == "refused" for r in measured),
        "exit_codes": sorted({r.exit_code for r in measured}, key=lambda c: (c is None, c or 0)),
        "gap_s": median([r.gap_s for r in ran]),
        "p50_ms": median([r.p50_ms for r in ran]),
        "p99_ms": median([r.p99_ms for r in ran]),
        "max_ms": median([r.max_ms for r in ran]),
        "wall_s": median([r.wall_s for r in ran]),
        "errors": median([float(sum(r.errors.values())) for r in ran]),
        "error_kinds": {k: v / max(1, len(ran)) for k, v in errors.items()},
        "online": list(online),
        "monitor_wait_s": median(waits) if waits else None,
        "makesafe": next((r.makesafe for r in ran if r.makesafe), ""),
        "note": runs[0].status if runs and runs[0].status == "skipped" else "",
        "skip_reason": runs[0].output_tail if runs and runs[0].status == "skipped" else "",
    }


def cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "-"
    if summary["note"] == "skipped":
        return f"skipped: {summary['skip_reason']}"
    if summary["refused"] == summary["runs"]:
        return f"refused (exit {', '.join(map(str, summary['exit_codes']))})"
    text = (f"gap {summary['gap_s']:.2f} s, p99 {summary['p99_ms']:.0f} ms, {summary['errors']:g} errors,"
            f" {summary['wall_s']:.1f} s")
    if summary["completed"] < summary["runs"]:
        text = f"{summary['status']}; " + text
    return text


def cell_with_forced(summaries: dict[str, dict[str, Any]], leg: str) -> str:
    main = summaries.get(leg)
    forced = summaries.get(f"{leg}-forced")
    text = cell(main)
    if forced is not None:
        text += f"; forced: {cell(forced)}"
    return text


def meets(summary: dict[str, Any], args: argparse.Namespace, allowed_errors: int) -> list[str]:
    """Which of the issue's targets `summary` misses (empty: all met)."""
    misses = []
    if summary["completed"] < summary["runs"]:
        misses.append(f"did not complete ({summary['status']})")
    if summary["gap_s"] > args.target_gap:
        misses.append(f"gap {summary['gap_s']:.2f} s > {args.target_gap} s")
    if summary["p99_ms"] >= args.target_p99:
        misses.append(f"p99 {summary['p99_ms']:.0f} ms >= {args.target_p99:.0f} ms")
    if summary["errors"] > allowed_errors:
        misses.append(f"{summary['errors']:g} errors")
    return misses


def report(results: dict[tuple[str, str], list[Run]], scenarios: list[Scenario], args: argparse.Namespace,
           meta: dict[str, Any]) -> dict[str, Any]:
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    for (scenario_name, leg), runs in results.items():
        summaries.setdefault(scenario_name, {})[leg] = summarize(runs)
    print()
    print(f"PostgreSQL {meta['postgresql']}, {meta['cores']} cores, {args.rows:,} rows,"
          f" ~{args.rate:.0f} ops/s in {args.workers} threads; median of {args.repeat};"
          " gap = longest stretch with no write completing; load average at start"
          f" {meta['load_at_start'][0]:.1f}, at end "
          + (f"{meta['load_at_end'][0]:.1f}" if meta.get("load_at_end") else "not recorded"))
    print()
    print("| migration | plain `migrate` | django-pg-zero-downtime-migrations | `pilot deploy` |")
    print("|---|---|---|---|")
    for scenario in scenarios:
        row = summaries.get(scenario.name, {})
        print(f"| {scenario.label} | {cell(row.get('plain')) if 'plain' in row else '-'}"
              f" | {cell_with_forced(row, 'dpgzdm') if 'dpgzdm' in row else '-'}"
              f" | {cell_with_forced(row, 'pilot') if 'pilot' in row else '-'} |")
    print()
    print("Targets for `pilot deploy` with its defaults: gap <= 0.2 s, p99 < 20 ms, zero errors"
          " (int -> bigint: at most one per prepared-statement connection), migration completes.")
    print()
    print("| scenario | pilot: gap s | p99 ms | errors | completed | target | vs plain gap |")
    print("|---|---|---|---|---|---|---|")
    for scenario in scenarios:
        row = summaries.get(scenario.name, {})
        pilot = row.get("pilot")
        if pilot is None:
            continue
        if pilot["note"] == "skipped":
            print(f"| {scenario.name} | skipped: {pilot['skip_reason']} | | | | not measured | |")
            continue
        allowed = args.workers if scenario.name in ("int-to-bigint", "type-change-makesafe") else 0
        misses = meets(pilot, args, allowed)
        plain = row.get("plain")
        ratio = (f"{pilot['gap_s'] / plain['gap_s']:.2f}x" if plain and plain["gap_s"] > 0
                 and plain["note"] != "skipped" else "-")
        print(f"| {scenario.name} | {pilot['gap_s']:.2f} | {pilot['p99_ms']:.1f} | {pilot['errors']:g}"
              f" | {pilot['completed']}/{pilot['runs']} | {'met' if not misses else 'missed: ' + '; '.join(misses)}"
              f" | {ratio} |")
    print()
    print("Every leg, medians (errors: median per run; kinds: mean count per run):")
    print()
    print("| scenario | leg | status | exit | wall s | gap s | p50 ms | p99 ms | max ms | errors | error kinds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario in scenarios:
        for leg, s in summaries.get(scenario.name, {}).items():
            if s["note"] == "skipped":
                print(f"| {scenario.name} | {leg} | skipped | | | | | | | | {s['skip_reason']} |")
                continue
            kinds = "; ".join(f"{k} x{v:g}" for k, v in sorted(s["error_kinds"].items())) or "-"
            print(f"| {scenario.name} | {leg} | {s['status']} | {','.join(map(str, s['exit_codes']))}"
                  f" | {s['wall_s']:.2f} | {s['gap_s']:.2f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f}"
                  f" | {s['max_ms']:.0f} | {s['errors']:g} | {kinds} |")
    online = [(scenario.name, leg, s["online"]) for scenario in scenarios
              for leg, s in summaries.get(scenario.name, {}).items() if s.get("online")]
    if online:
        print()
        print("What `pilot deploy` ran instead of the plain SQL (its `online:` lines, timings removed):")
        print()
        for scenario_name, leg, lines in online:
            print(f"- {scenario_name} ({leg}): " + "; ".join(lines))
    rewritten = [(scenario.name, leg, s["makesafe"]) for scenario in scenarios
                 for leg, s in summaries.get(scenario.name, {}).items() if s.get("makesafe")]
    if rewritten:
        print()
        print("What `pilot makesafe` said before the deploy (first run):")
        for scenario_name, leg, said in rewritten:
            print(f"\n{scenario_name} ({leg}):\n" + "\n".join("    " + line for line in said.splitlines()))
    waits = [(scenario.name, leg, s) for scenario in scenarios
             for leg, s in summaries.get(scenario.name, {}).items() if s.get("monitor_wait_s") is not None]
    if waits:
        print()
        print("pilot's own impact monitor (longest wait of another session, median) beside the gap measured here:")
        print()
        print("| scenario | leg | monitor: longest wait s | measured: gap s | measured: max write ms |")
        print("|---|---|---|---|---|")
        for scenario_name, leg, s in waits:
            print(f"| {scenario_name} | {leg} | {s['monitor_wait_s']:.2f} | {s['gap_s']:.2f} | {s['max_ms']:.0f} |")
    return summaries


# --------------------------------------------------------------------------------------------------
# Main


def skip_reason(scenario: Scenario, pilot_python: Path) -> str:
    """Why a pilot-only scenario cannot run yet ('' when the product has what it needs)."""
    if scenario.needs == "backfill-op":
        probe = "from migration_pilot.operations import Backfill"
        what = "migration_pilot.operations.Backfill is not importable yet"
    elif scenario.needs == "makesafe":
        probe = "import migration_pilot.cli.subcommands.makesafe"
        what = "`pilot makesafe` does not exist yet"
    else:
        return ""
    done = subprocess.run([str(pilot_python), "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return what
    return ""


def build_template(rows: int, pilot_python: Path, reuse: bool) -> str:
    """A database with shop.0001 applied and `rows` orders, vacuumed and analysed: every run copies it."""
    name = f"{PREFIX}template_{rows}" if reuse else f"{PREFIX}template_{uuid.uuid4().hex[:10]}"
    if reuse and admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
        return name
    started = time.monotonic()
    create_database(name)
    project = WORK / "projects" / "template"
    leg = legs(pilot_python)["plain"]
    write_project(project, leg, name, [("0001_initial", INITIAL)], Scenario("initial", "", ()).models_py())
    manage(leg.python, project, "migrate", "shop", "0001", "--no-input")
    admin(fill_sql(rows), name, timeout=1800)
    admin("VACUUM (FREEZE, ANALYZE) shop_order", name, timeout=1800)
    admin("VACUUM (FREEZE, ANALYZE) shop_customer", name)
    admin("CHECKPOINT")
    if reuse:
        CREATED.discard(name)  # kept for the next run on purpose
    print(f"template {name}: {rows:,} rows in {time.monotonic() - started:.1f} s", flush=True)
    return name


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM behaves like Ctrl-C: stop the traffic, kill the migration, drop the databases."""
    raise KeyboardInterrupt


def main() -> None:
    ensure_driver()
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=names, help="repeatable; default: all")
    parser.add_argument("--leg", action="append", choices=["plain", "dpgzdm", "pilot"], help="repeatable; default: all")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every run and the medians here")
    parser.add_argument("--no-forced", action="store_true", help="do not follow a refusal with a forced run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0, help="total operations per second")
    parser.add_argument("--lead", type=float, default=1.5, help="seconds of traffic before the migration starts")
    parser.add_argument("--tail", type=float, default=3.0, help="seconds of traffic after it ends")
    parser.add_argument("--reader-hold", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=180.0, help="give up on a migration after this many s")
    parser.add_argument("--target-gap", type=float, default=0.2)
    parser.add_argument("--target-p99", type=float, default=20.0)
    parser.add_argument("--pilot-python", type=Path, default=ROOT / ".venv" / "bin" / "python")
    parser.add_argument("--reuse-template", action="store_true",
                        help=f"keep {PREFIX}template_<rows> between invocations (development)")
    parser.add_argument("--report", type=Path, metavar="JSON", action="append",
                        help="print the tables again from --json files of earlier runs (repeatable: a later"
                             " file's runs replace an earlier file's for the same scenario and leg); measure nothing")
    args = parser.parse_args()
    if args.report:
        results: dict[tuple[str, str], list[Run]] = {}
        saved = [json.loads(path.read_text()) for path in args.report]
        for one in saved:
            fresh: dict[tuple[str, str], list[Run]] = {}
            for raw in one["runs"]:
                fresh.setdefault((raw["scenario"], raw["leg"]), []).append(Run(**raw))
            results.update(fresh)
        keep = {name for name, _ in results}
        saved_args = saved[0]["meta"]["args"]
        for key in ("rows", "repeat", "workers"):
            setattr(args, key, int(saved_args[key]))
        args.rate = float(saved_args["rate"])
        report(results, [s for s in SCENARIOS if s.name in keep], args, saved[0]["meta"])
        if len(saved) > 1:
            print("\nfrom " + "; ".join(f"{path} ({one['meta']['started']}, pilot at {one['meta']['pilot_commit']})"
                                          for path, one in zip(args.report, saved, strict=True)))
        return
    if args.rows < 1000 or args.repeat < 1:
        parser.error("--rows must be at least 1000 and --repeat at least 1")
    ensure_venv()
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    wanted = args.leg or ["plain", "dpgzdm", "pilot"]
    all_legs = legs(args.pilot_python)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # also when started in the background, where SIGINT is ignored
    results = {}
    meta = {"postgresql": admin("SHOW server_version")[0][0], "cores": os.cpu_count(),
            "load_at_start": os.getloadavg(), "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "args": {
                k: str(v) for k, v in vars(args).items()}}
    versions = subprocess.run([str(VENV / "bin" / "python"), "-c", "import django, importlib.metadata as m;"
                               " print(django.get_version(), m.version('django-pg-zero-downtime-migrations'))"],
                              capture_output=True, text=True, check=True).stdout.split()
    meta["django"], meta["dpgzdm"] = versions
    meta["pilot_commit"] = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                          capture_output=True, text=True, check=False).stdout.strip()
    template = ""
    started = time.monotonic()
    try:
        template = build_template(args.rows, args.pilot_python, args.reuse_template)
        for repeat in range(1, args.repeat + 1):
            for scenario in scenarios:
                order = [leg for leg in wanted if leg == "pilot" or not scenario.pilot_only]
                if repeat % 2 == 0:
                    order.reverse()
                for name in order:
                    reason = skip_reason(scenario, args.pilot_python) if name == "pilot" else ""
                    if reason:
                        results.setdefault((scenario.name, name), []).append(
                            Run(scenario.name, name, repeat, status="skipped", output_tail=reason))
                        continue
                    run = run_once(scenario, all_legs[name], repeat, template, args)
                    results.setdefault((scenario.name, name), []).append(run)
                    print(f"[{time.monotonic() - started:6.0f}s] repeat {repeat} {scenario.name:34} {name:14}"
                          f" {run.status:22} wall {run.wall_s:6.2f}s gap {run.gap_s:6.2f}s p99 {run.p99_ms:7.1f}ms"
                          f" errors {sum(run.errors.values())}", flush=True)
                    forced = f"{name}-forced"
                    if run.status == "refused" and forced in all_legs and not args.no_forced:
                        run = run_once(scenario, all_legs[forced], repeat, template, args)
                        results.setdefault((scenario.name, forced), []).append(run)
                        print(f"[{time.monotonic() - started:6.0f}s] repeat {repeat} {scenario.name:34} {forced:14}"
                              f" {run.status:22} wall {run.wall_s:6.2f}s gap {run.gap_s:6.2f}s"
                              f" p99 {run.p99_ms:7.1f}ms errors {sum(run.errors.values())}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up and reporting what was measured", file=sys.stderr)
    finally:
        for name in sorted(CREATED):
            with contextlib.suppress(Exception):
                drop_database(name)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["load_at_end"] = os.getloadavg()
    summaries = report(results, scenarios, args, meta)
    print(f"\n{meta['elapsed_s']:.0f} s; Django {meta['django']}, django-pg-zero-downtime-migrations"
          f" {meta['dpgzdm']}, migration-pilot at {meta['pilot_commit']}")
    if args.json:
        args.json.write_text(json.dumps({
            "meta": meta, "summaries": summaries,
            "runs": [asdict(r) for runs in results.values() for r in runs]}, indent=2, default=str))


if __name__ == "__main__":
    main()
