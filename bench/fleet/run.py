"""bench/fleet: django-tenants' migrate_schemas (multiprocessing, 2 processes) vs pilot deploy --fleet --jobs 2.

    python bench/fleet/run.py [--sizes 100:3,300:3,1000:1]
    python bench/fleet/run.py --noop-only --sizes 1000:3 [--pilot-only] [--keep --reuse]

Builds bench/fleet/.venv (django-tenants 4.0.1 from PyPI, Django 5.2, psycopg 3) on first use, a scratch
database `pilot_bench_fleet` on PostgreSQL at 127.0.0.1:5432, the project in bench/fleet/project (django-tenants'
documented layout: shared apps in public, the tenant app `shop` in each tenant schema), and N tenant schemas
(the first made by django-tenants itself, the rest copies of it through pg_dump). Per N and repetition, in the same run:
one pending migration (a nullable column plus an index on shop_invoice) applied by each tool from the same
starting state, then the no-op case (nothing pending) by each tool. After each pending run a catalog dump of
every tenant schema (columns, indexes, constraints, applied migration names) is taken; the two tools' dumps must
be identical. Prints medians and ratios.

--atomic-failure N is the all-or-nothing proof: N tenant schemas at shop.0001, one of them (the last) given a
conflicting `note` column by hand, then `pilot deploy --fleet --atomic-fleet --jobs 2` with the pending migration;
it must exit 3, every schema's catalog must equal its catalog before, and no prepared transaction of the database
may be left. The window is what the server allows (max_prepared_transactions minus those in use); when that is less
than N, --cluster runs it on a throwaway PostgreSQL cluster (initdb) with max_prepared_transactions = N + 16, so the
whole fleet is one window; without --cluster the run is given --atomic-window FREE and each window commits on its
own (the report says how many schemas that changed); --window W bounds it further (a shared server's other
users need prepared transactions too).

--noop-only measures only the no-op case (every tenant at shop.0001, nothing pending) for both tools, without
the pending leg; --pilot-only leaves migrate_schemas out (for profiling runs). --keep keeps the database and
--reuse starts from a kept one (its tenant schemas are reused, so N=1000 is not rebuilt each time).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
PROJECT = HERE / "project"
PY = VENV / "bin" / "python"
DB = os.environ.get("FLEET_BENCH_DB", "pilot_bench_fleet")
PENDING = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.AddIndex("invoice", models.Index(fields=["note"], name="invoice_note_idx")),
    ]
'''
MODELS = '''from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)
'''
NOTE = '''    note = models.CharField(max_length=50, null=True)

    class Meta:
        indexes = [models.Index(fields=["note"], name="invoice_note_idx")]
'''


def ensure_venv() -> None:
    if PY.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "django-tenants==4.0.1", "Django>=5.2,<5.3",
                    "psycopg[binary]", "rich", "pglast", "sqlparse"], check=True)


def env() -> dict[str, str]:
    # Bytecode is cached (outside the source tree) as an installed package's would be: without it every run
    # of pilot compiled its modules from source, and Django's and django-tenants' came compiled from pip.
    skip = {"DJANGO_SETTINGS_MODULE", "PYTHONDONTWRITEBYTECODE"}
    return {**{k: v for k, v in os.environ.items() if k not in skip},
            "PYTHONPATH": f"{ROOT / 'src'}:{PROJECT}", "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPYCACHEPREFIX": str(HERE / ".work" / "pycache")}


INSIDE: list[float] = []
"""pilot's own figure for its last run (--format json duration_s): the fleet work without Python's start-up."""


def run(*args: str) -> float:
    started = time.monotonic()
    done = subprocess.run([str(PY), *args], cwd=PROJECT, env=env(), capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if "--format" in args:
        INSIDE.append(float(json.loads(done.stdout)["duration_s"]))
    return took


def psql(sql: str, database: str = DB) -> str:
    done = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                           "-qAt", "-c", sql], capture_output=True, text=True, check=True)
    return done.stdout


def pending(on: bool) -> None:
    migration = PROJECT / "shop" / "migrations" / "0002_note.py"
    if on:
        migration.write_text(PENDING.lstrip())
        (PROJECT / "shop" / "models.py").write_text(MODELS + NOTE)
    else:
        migration.unlink(missing_ok=True)
        (PROJECT / "shop" / "models.py").write_text(MODELS)


SETUP = '''
import django
django.setup()
from customers.models import Client

if not Client.objects.filter(schema_name="public").exists():
    Client.objects.create(schema_name="public", name="public")
if not Client.objects.filter(schema_name="t00000").exists():
    Client.objects.create(schema_name="t00000", name="template")  # django-tenants creates and migrates it
'''


def tenants(n: int) -> None:
    """N tenant schemas: the first made by django-tenants itself, the others copies of it (pg_dump, renamed).

    django-tenants' clone_schema took about 2 s per schema on this loaded machine; one dump replayed under
    each new name gives the same catalog in seconds. Each copy is registered as a Client row.
    """
    (HERE / ".work").mkdir(exist_ok=True)
    script = HERE / ".work" / "setup_tenants.py"
    script.write_text(SETUP)
    run(str(script))
    have = int(psql("SELECT count(*) FROM customers_client WHERE schema_name <> 'public'").strip())
    if have >= n:
        return
    dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", "t00000", "--no-owner", DB],
                          capture_output=True, text=True, check=True).stdout
    body = "\n".join(line for line in dump.splitlines() if not line.startswith(("SET ", "SELECT pg_catalog.set_config")))
    copies = "\n".join(body.replace("t00000", f"t{i:05d}") for i in range(have, n))
    registered = (f"INSERT INTO customers_client (schema_name, name) SELECT format('t%s', lpad(i::text, 5, '0')),"
                  f" format('t%s', lpad(i::text, 5, '0')) FROM generate_series({have}, {n - 1}) AS i;")
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-v", "ON_ERROR_STOP=1", "-q"],
                   input="BEGIN;\n" + copies + "\n" + registered + "\nCOMMIT;\n", text=True, check=True,
                   capture_output=True)


def reset() -> None:
    """Every tenant back at shop.0001 (column and index dropped, the history row deleted), in one script."""
    psql("DO $$ DECLARE s text; BEGIN FOR s IN SELECT schema_name FROM customers_client"
         " WHERE schema_name <> 'public' LOOP"
         " EXECUTE format('ALTER TABLE %I.shop_invoice DROP COLUMN IF EXISTS note', s);"
         " EXECUTE format('DELETE FROM %I.django_migrations WHERE app = ''shop'' AND name = ''0002_note''', s);"
         " END LOOP; END $$")


def catalog() -> dict[str, tuple[str, ...]]:
    """Per tenant schema: columns, indexes, constraints and applied migration names (schema name left out)."""
    rows = psql(
        "SELECT s, string_agg(x, ' | ' ORDER BY x) FROM ("
        " SELECT table_schema AS s, 'col ' || table_name || '.' || column_name || ' ' || data_type || ' '"
        "  || is_nullable || ' ' || coalesce(column_default, '') AS x FROM information_schema.columns"
        "  WHERE table_schema LIKE 't0%'"
        " UNION ALL SELECT schemaname, 'idx ' || indexname || ' ' || replace(indexdef, schemaname || '.', '')"
        "  FROM pg_indexes WHERE schemaname LIKE 't0%'"
        " UNION ALL SELECT n.nspname, 'con ' || conname || ' ' || replace(pg_get_constraintdef(c.oid),"
        "  n.nspname || '.', '') FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        "  WHERE n.nspname LIKE 't0%'"
        ") q GROUP BY s ORDER BY s")
    found = {line.split("|", 1)[0]: (line.split("|", 1)[1],) for line in rows.splitlines() if line}
    union = psql("SELECT string_agg(format('SELECT %L AS s, app || ''.'' || name AS m FROM %I.django_migrations',"
                 " schema_name, schema_name), ' UNION ALL ') FROM customers_client WHERE schema_name <> 'public'")
    names: dict[str, list[str]] = {}
    for line in psql(f"SELECT s, string_agg(m, ',' ORDER BY m) FROM ({union.strip()}) q GROUP BY s").splitlines():
        schema, migrations = line.split("|", 1)
        names[schema] = [migrations]
    return {schema: (*found.get(schema, ()), *names.get(schema, [])) for schema in sorted(set(found) | set(names))}


MIGRATE_SCHEMAS = ("manage.py", "migrate_schemas", "--tenant", "--executor", "multiprocessing", "-v", "0")
PILOT = ("-m", "migration_pilot.cli.main", "deploy", "--fleet", "--jobs", "2", "--fail-on", "never", "--no-backup", "--format",
         "json")


def measure(n: int, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"migrate_schemas": [], "pilot": [], "migrate_schemas no-op": [],
                                     "pilot no-op": [], "pilot inside": [], "pilot no-op inside": []}
    for repeat in range(repeats):
        pending(True)
        dumps = {}
        order = [("migrate_schemas", MIGRATE_SCHEMAS), ("pilot", PILOT)]
        if repeat % 2:
            order.reverse()  # alternate who goes first
        for name, command in order:
            reset()
            times[name].append(run(*command))
            dumps[name] = catalog()
            times[f"{name} no-op"].append(run(*command))
            if name == "pilot":
                times["pilot inside"].append(INSIDE[-2])
                times["pilot no-op inside"].append(INSIDE[-1])
        if dumps["migrate_schemas"] != dumps["pilot"]:
            different = [s for s in dumps["pilot"] if dumps["pilot"][s] != dumps["migrate_schemas"].get(s)]
            raise SystemExit(f"N={n}: the schemas differ between the tools (first: {different[:3]})")
        if len(dumps["pilot"]) != n:
            raise SystemExit(f"N={n}: {len(dumps['pilot'])} tenant schemas dumped")
        print(f"  N={n} run {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items())
              + f"; {n} schemas identical", flush=True)
    return times


def measure_noop(n: int, repeats: int, *, pilot_only: bool) -> dict[str, list[float]]:
    """Only the no-op case: both tools on a fleet with nothing pending, `repeats` times each, alternating."""
    times: dict[str, list[float]] = {"pilot no-op": [], "pilot no-op inside": []}
    if not pilot_only:
        times["migrate_schemas no-op"] = []
    pending(False)
    reset()
    for repeat in range(repeats):
        order = [("pilot no-op", PILOT)] + ([] if pilot_only else [("migrate_schemas no-op", MIGRATE_SCHEMAS)])
        if repeat % 2:
            order.reverse()
        for name, command in order:
            times[name].append(run(*command))
            if name == "pilot no-op":
                times["pilot no-op inside"].append(INSIDE[-1])
        print(f"  N={n} no-op run {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
              flush=True)
    return times


def prepared_here() -> int:
    """Prepared transactions of this database (other databases on the server are left alone)."""
    return int(psql("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()").strip())


def capacity() -> tuple[int, int]:
    """(max_prepared_transactions, prepared transactions in use server-wide)."""
    setting, used = psql("SELECT current_setting('max_prepared_transactions'), (SELECT count(*) FROM"
                         " pg_prepared_xacts)").strip().split("|")
    return int(setting), int(used)


def atomic_failure(n: int, requested: int | None = None) -> dict[str, object]:
    """One all-or-nothing run over n tenants with one failing tenant; what changed and how long it took."""
    pending(False)
    tenants(n)
    reset()
    last = f"t{n - 1:05d}"
    psql(f"ALTER TABLE {last}.shop_invoice ADD COLUMN note integer")  # the conflicting column, made by hand
    pending(True)
    before = catalog()
    setting, used = capacity()
    window = min(n, setting - used, requested or n)
    command = [str(PY), *PILOT, "--atomic-fleet"] + (["--atomic-window", str(window)] if window < n else [])
    started = time.monotonic()
    done = subprocess.run(command, cwd=PROJECT, env=env(), capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    after = catalog()
    changed = [schema for schema in before if after.get(schema) != before[schema]]
    out = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    failed = [t for t in out.get("tenants", []) if t["outcome"] == "failed"]
    return {"n": n, "exit_code": done.returncode, "wall_s": round(took, 2), "inside_s": round(float(out.get("duration_s") or 0), 2),
            "window": out.get("window"), "max_prepared_transactions": setting, "in_use_before": used,
            "schemas": len(before), "changed": len(changed), "first_changed": changed[:3],
            "prepared_left": prepared_here(), "failed": [(t["tenant"], t["error"]) for t in failed][:3],
            "message": out.get("message", done.stderr.strip()[-500:])}


@contextlib.contextmanager
def throwaway_cluster(prepared: int) -> Iterator[None]:
    """A PostgreSQL cluster of our own (initdb, fsync off) with max_prepared_transactions = `prepared`.

    psql, pg_dump and the project reach it through PGPORT / FLEET_BENCH_PORT for the block.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("--cluster needs PostgreSQL's server binaries (initdb)")
    bindir = os.path.dirname(found[-1])
    as_root = os.getuid() == 0
    root = tempfile.mkdtemp(prefix="pilot-bench-pg-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])

    def sh(command: str) -> None:
        args = ["su", "postgres", "-c", command] if as_root else ["sh", "-c", command]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    saved = {k: os.environ.get(k) for k in ("PGPORT", "FLEET_BENCH_PORT")}
    try:
        if as_root:
            shutil.chown(root, "postgres")
        sh(f"{bindir}/initdb -D {root}/data -A trust -U postgres --no-sync")
        sh(f"{bindir}/pg_ctl -D {root}/data -l {root}/log -w -o '-p {port} -k {root} -c listen_addresses=127.0.0.1"
           f" -c fsync=off -c max_prepared_transactions={prepared} -c max_connections=50' start")
        os.environ["PGPORT"] = os.environ["FLEET_BENCH_PORT"] = str(port)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            sh(f"{bindir}/pg_ctl -D {root}/data -m immediate stop")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100:3,300:3,1000:1", help="N:repetitions, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="start from a kept database when there is one")
    parser.add_argument("--noop-only", action="store_true", help="measure only the no-op case")
    parser.add_argument("--pilot-only", action="store_true", help="with --noop-only: leave migrate_schemas out")
    parser.add_argument("--atomic-failure", type=int, metavar="N", help="the all-or-nothing proof at N tenants")
    parser.add_argument("--cluster", action="store_true", help="with --atomic-failure: on a throwaway cluster"
                        " with max_prepared_transactions = N + 16")
    parser.add_argument("--window", type=int, help="with --atomic-failure: at most this many tenants prepared at"
                        " once (leave room for others on a shared server)")
    args = parser.parse_args()
    ensure_venv()
    if args.atomic_failure:
        with throwaway_cluster(args.atomic_failure + 16) if args.cluster else contextlib.nullcontext():
            psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", "postgres")
            psql(f"CREATE DATABASE {DB}", "postgres")
            try:
                run("manage.py", "migrate_schemas", "--shared", "-v", "0")
                result = atomic_failure(args.atomic_failure, args.window)
            finally:
                pending(False)
                psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", "postgres")
        print(json.dumps(result, indent=2))
        ok = result["exit_code"] == 3 and result["changed"] == 0 and result["prepared_left"] == 0
        print(f"N={result['n']}: {'every schema unchanged' if ok else 'NOT all or nothing'}; exit"
              f" {result['exit_code']}, window {result['window']}, {result['changed']} of {result['schemas']} schemas"
              f" changed, {result['prepared_left']} prepared transaction(s) left; pilot {result['wall_s']} s"
              f" ({result['inside_s']} s inside)")
        return
    exists = psql(f"SELECT count(*) FROM pg_database WHERE datname = '{DB}'", "postgres").strip() == "1"
    if not (args.reuse and exists):
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", "postgres")
        psql(f"CREATE DATABASE {DB}", "postgres")
    pending(False)
    try:
        run("manage.py", "migrate_schemas", "--shared", "-v", "0")
        results = []
        for spec in args.sizes.split(","):
            n, _, repeats = spec.partition(":")
            pending(False)
            tenants(int(n))
            if args.noop_only:
                times = measure_noop(int(n), int(repeats or 3), pilot_only=args.pilot_only)
                print(f"N={n}, {repeats or 3} run(s), medians: " + ", ".join(
                    f"{k} {statistics.median(v):.2f} s" for k, v in times.items()))
                continue
            times = measure(int(n), int(repeats or 3))
            results.append((int(n), int(repeats or 3), {k: statistics.median(v) for k, v in times.items()}))
        if not results:
            return
        print("\n| N | runs | migrate_schemas mp x2 | pilot --fleet --jobs 2 (inside) | ratio |"
              " no-op migrate_schemas | no-op pilot (inside) | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for n, repeats, m in results:
            print(f"| {n} | {repeats} | {m['migrate_schemas']:.2f} s | {m['pilot']:.2f} s ({m['pilot inside']:.2f} s) |"
                  f" {m['migrate_schemas'] / m['pilot']:.1f}x | {m['migrate_schemas no-op']:.2f} s |"
                  f" {m['pilot no-op']:.2f} s ({m['pilot no-op inside']:.2f} s) |"
                  f" {m['migrate_schemas no-op'] / m['pilot no-op']:.1f}x |")
    finally:
        pending(False)
        if not args.keep:
            psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", "postgres")


if __name__ == "__main__":
    main()
