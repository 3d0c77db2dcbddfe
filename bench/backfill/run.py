#!/usr/bin/env python3
"""Benchmark: Backfill (committed keyset batches) against one UPDATE over the whole table, on PostgreSQL.

Each leg gets a freshly built table of N rows (id bigserial, n int, status text),
VACUUM ANALYZE and CHECKPOINT untimed, then does n = n + 1 to every row: once
as a single UPDATE, once through migration_pilot's run_backfill with its
default tuning (200 ms batches, adaptive size, lock-wait sampler, replica-lag
check, checkpoint per batch, ANALYZE at the end). Legs alternate order per
round; medians are compared. Target (issue 13): Backfill throughput >= 0.9x
the single UPDATE's.

    .venv/bin/python bench/backfill/run.py [--rows 2000000] [--rounds 1]

Needs PostgreSQL at PILOT_PG_HOST/PILOT_PG_PORT (default 127.0.0.1:5432, user postgres, trust).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

HOST = os.environ.get("PILOT_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("PILOT_PG_PORT", "5432"))
USER = os.environ.get("PILOT_PG_USER", "postgres")


def admin(sql: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=database, autocommit=True) as conn:
        conn.execute(sql)


def build_table(database: str, rows: int) -> None:
    """A fresh bench_item with `rows` rows, vacuumed and analysed, and a checkpoint so no leg pays for the last."""
    admin("DROP TABLE IF EXISTS bench_item", database)
    admin("CREATE TABLE bench_item (id bigserial PRIMARY KEY, n integer NOT NULL DEFAULT 0,"
          " status varchar(20) NOT NULL DEFAULT '')", database)
    admin(f"INSERT INTO bench_item (n, status) SELECT 0, (ARRAY['paid','open','void'])[1 + g % 3]"
          f" FROM generate_series(1, {rows}) g", database)
    admin("VACUUM ANALYZE bench_item", database)
    admin("CHECKPOINT", database)


def autovacuums(database: str) -> int:
    """How often autovacuum ran on bench_item since it was built (batched commits let it start mid-run)."""
    import psycopg

    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=database, autocommit=True) as conn:
        row = conn.execute("SELECT autovacuum_count + autoanalyze_count FROM pg_stat_user_tables"
                           " WHERE relname = 'bench_item'").fetchone()
        return int(row[0]) if row else 0


def one_update(database: str) -> float:
    import psycopg

    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=database, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("UPDATE bench_item SET n = n + 1")
        return time.perf_counter() - started


def backfill(database: str, rows: int, tuning_values: dict[str, float]) -> tuple[float, int]:
    from django.db import connections, models
    from django.db.migrations.state import ModelState, ProjectState
    from django.db.models import F

    from migration_pilot.backfill import Analyzed, BatchCommitted, SetValues, Throttled, Tuning, run_backfill
    from migration_pilot.models import BackfillCheckpoint

    BackfillCheckpoint.objects.using("default").all().delete()
    state = ProjectState()
    state.add_model(ModelState("bench", "Item", [("id", models.BigAutoField(primary_key=True)),
                                                 ("n", models.IntegerField()), ("status", models.CharField(max_length=20))],
                               options={"db_table": "bench_item"}))
    model = state.apps.get_model("bench", "Item")
    events: list[object] = []
    connections["default"].ensure_connection()
    started = time.perf_counter()
    result = run_backfill(model, SetValues({"n": F("n") + 1}), name=f"bench-{uuid.uuid4().hex[:6]}",
                          on_event=events.append, tuning=Tuning(**tuning_values))
    elapsed = time.perf_counter() - started
    assert result.rows_done == rows, result
    batches = [e for e in events if isinstance(e, BatchCommitted)]
    throttles = [e for e in events if isinstance(e, Throttled)]
    analyzed = sum(e.duration_s for e in events if isinstance(e, Analyzed))
    sizes = [b.batch_size for b in batches]
    print(f"    backfill: {len(batches)} batches ({sum(b.duration_s for b in batches):.2f}s inside them), sizes"
          f" {sizes[:4]} ... {sizes[-3:]}, max {max(sizes)}; {len(throttles)} throttles"
          f" ({sum(t.seconds for t in throttles):.2f}s); ANALYZE {analyzed:.2f}s", flush=True)
    return elapsed, len(batches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-time", type=float, help="seconds (default: the product's default)")
    parser.add_argument("--lock-sample-interval", type=float, help="seconds; 0 = no sampler (default: product's)")
    parser.add_argument("--legs", default="update,backfill")
    args = parser.parse_args()
    database = f"bench_backfill_{uuid.uuid4().hex[:8]}"
    admin(f"CREATE DATABASE {database}")
    try:
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=["migration_pilot"], USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": database, "USER": USER,
                                   "HOST": HOST, "PORT": str(PORT)}})
        django.setup()
        from django.core.management import call_command

        call_command("migrate", "migration_pilot", verbosity=0)
        times: dict[str, list[float]] = {"update": [], "backfill": []}
        tuning_values = {key: value for key, value in (("batch_time", args.batch_time),
                                                        ("lock_sample_interval", args.lock_sample_interval))
                         if value is not None}
        legs = args.legs.split(",")
        for round_ in range(args.rounds):
            order = ["update", "backfill"] if round_ % 2 == 0 else ["backfill", "update"]
            for leg in [leg for leg in order if leg in legs]:
                build_table(database, args.rows)
                if leg == "update":
                    seconds = one_update(database)
                else:
                    seconds, _ = backfill(database, args.rows, tuning_values)
                times[leg].append(seconds)
                print(f"  round {round_ + 1} {leg:8}: {seconds:7.2f}s  {args.rows / seconds:12,.0f} rows/s"
                      f"  (autovacuum/autoanalyze runs on the table so far: {autovacuums(database)})", flush=True)
        if len(legs) < 2:
            return 0
        update, batched = statistics.median(times["update"]), statistics.median(times["backfill"])
        ratio = update / batched
        print(f"\n{args.rows:,} rows, median of {args.rounds}: one UPDATE {update:.2f}s"
              f" ({args.rows / update:,.0f} rows/s); Backfill {batched:.2f}s ({args.rows / batched:,.0f} rows/s)")
        print(f"throughput ratio Backfill / one UPDATE = {ratio:.2f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
