"""SQLite: nothing to sample, and the monitor says so instead of pretending."""

from __future__ import annotations

from migration_pilot.monitor import ImpactMonitor


def test_returns_an_empty_report_that_says_why(tmp_path):
    settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}

    with ImpactMonitor(settings, watch=1234, max_blocked=0.5) as monitor:
        ended = monitor.mark("shop.0002_invoice_status")
        sample = monitor.sample_now()
        window = monitor.window()
    report = monitor.report()

    assert not monitor.supported
    assert (ended, sample) == (None, None)
    assert window.label == "shop.0002_invoice_status"
    assert (report.vendor, report.supported, report.samples, report.sessions_blocked, report.tripped) == (
        "sqlite", False, 0, 0, False)
    assert report.note.startswith("SQLite has no server sessions to sample")
    assert report.to_dict()["note"] == report.note


def test_session_id_is_none(tmp_path):
    from migration_pilot.monitor import session_id
    from tests.databases import django_connection

    with django_connection(None, str(tmp_path / "db.sqlite3")) as connection:
        assert session_id(connection) is None
