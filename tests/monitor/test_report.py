"""ImpactReport's renderings: the dict for the run history, the one-line summary, the metrics."""

from __future__ import annotations

import json

from migration_pilot.monitor import BlockedSession, ImpactReport, Trip

BLOCKED = tuple(BlockedSession(100 + i, "shop web", 1.5 - i / 100, "AccessShareLock", "shop_invoice",
                               "SELECT 1", (42,), 42) for i in range(30))


def _report(**changes):
    fields = {"label": "shop.0002_invoice_status", "vendor": "postgresql", "supported": True, "duration_s": 2.0,
              "samples": 20, "longest_wait_s": 1.5, "sessions_blocked": 30, "lock_wait_samples": 12,
              "blocked": BLOCKED, "rollbacks": 2, "deadlocks": 0, "conflicts": 0}
    return ImpactReport(**{**fields, **changes})


def test_to_dict_is_json_and_keeps_the_longest_waits():
    data = _report().to_dict(max_sessions=5)

    assert json.loads(json.dumps(data)) == data
    assert [b["pid"] for b in data["blocked"]] == [100, 101, 102, 103, 104]
    assert (data["sessions_blocked"], data["tripped"]) == (30, False)


def test_summary_names_the_worst_wait_and_what_else_happened():
    trip = Trip(1.0, 42, 100, 0.55, True, "Cancelled ...")

    summary = _report(trips=(trip,), max_replica_lag_s=0.25).summary()

    assert summary == ("longest wait by another session 1.50s (pid 100 shop web, AccessShareLock on shop_invoice),"
                       " 30 sessions blocked, circuit breaker tripped 1x, rollbacks +2, replica lag up to 0.25s")


def test_summary_of_a_quiet_window():
    assert _report(blocked=(), sessions_blocked=0, longest_wait_s=0.0, rollbacks=0).summary() == (
        "longest wait by another session 0.00s, 0 sessions blocked")


def test_metrics_leave_out_what_the_server_does_not_count():
    metrics = _report(vendor="mysql", conflicts=None, deadlocks=None).metrics()

    assert metrics == {"impact_longest_wait_seconds": 1.5, "impact_sessions_blocked": 30, "impact_breaker_trips": 0,
                       "impact_rollbacks": 2}


def test_unsupported_report_says_why_and_has_no_metrics():
    report = _report(vendor="sqlite", supported=False, note="SQLite has no server sessions to sample.")

    assert report.summary() == "not sampled: SQLite has no server sessions to sample."
    assert report.metrics() == {}


def test_from_dict_reads_back_what_to_dict_wrote():
    from migration_pilot.monitor import IndexProgress

    report = _report(trips=(Trip(1.0, 42, 100, 0.55, True, "Cancelled ..."),), max_replica_lag_s=0.25,
                     index_progress=IndexProgress(42, "shop_invoice", "invoice_status_idx", "building index", 5, 10,
                                                  0, 0), errors=("OperationalError: gone",), error_count=1)

    assert ImpactReport.from_dict(report.to_dict(max_sessions=100)) == report
