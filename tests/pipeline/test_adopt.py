"""Catalogue D10: `pilot adopt` is the checked `--fake`: it records migrations only when the schema matches."""

from __future__ import annotations

import contextlib
import sqlite3

from tests.databases import admin_connection


@contextlib.contextmanager
def _cursor(vendor, server, name):
    if vendor == "sqlite":
        conn = sqlite3.connect(name, isolation_level=None)
        try:
            yield conn.cursor()
        finally:
            conn.close()
        return
    with admin_connection(server, name) as conn:
        yield conn.cursor()


def _shop_recorded(vendor, server, name) -> list[str]:
    with _cursor(vendor, server, name) as cursor:
        cursor.execute("SELECT name FROM django_migrations WHERE app = 'shop' ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def _legacy(deployable):
    """The shop table exists (deployed), but nothing says so: a database made before migrations were used."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    with _cursor(vendor, server, name) as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'shop'")
    assert _shop_recorded(vendor, server, name) == []
    return project, vendor, server, name


def test_a_matching_schema_is_adopted_and_recorded(deployable):
    """A table the adopted migrations do not describe is verify's business, not a reason to refuse."""
    project, vendor, server, name = _legacy(deployable)
    with _cursor(vendor, server, name) as cursor:
        cursor.execute("CREATE TABLE legacy_other (id integer PRIMARY KEY)")

    dry = project.run("adopt", "shop", "--dry-run")
    assert dry.code == 0, dry.out + dry.err
    assert "Would adopt on 'default': shop.0001_initial" in dry.out
    assert _shop_recorded(vendor, server, name) == []

    result = project.run("adopt", "shop")

    assert result.code == 0, result.out + result.err
    assert "Adopted on 'default': shop.0001_initial recorded as applied" in result.out
    assert _shop_recorded(vendor, server, name) == ["0001_initial"]
    assert project.history()[0]["kind"] == "adopt"
    again = project.run("adopt", "shop")
    assert again.code == 0 and "Nothing to adopt" in again.out
    with _cursor(vendor, server, name) as cursor:
        cursor.execute("DROP TABLE legacy_other")
    assert project.run("verify").code == 0


def test_a_missing_column_is_refused_by_name_and_nothing_is_recorded(deployable):
    project, vendor, server, name = _legacy(deployable)
    runs_before = len(project.history())
    with _cursor(vendor, server, name) as cursor:
        cursor.execute("ALTER TABLE shop_invoice DROP COLUMN amount")

    result = project.run("adopt", "shop", "0001")

    assert result.code == 1, result.out + result.err
    assert "Refused: the schema of 'default' does not match what shop.0001_initial would create" in result.out
    assert "missing_column: shop_invoice.amount" in result.out
    assert _shop_recorded(vendor, server, name) == []
    assert len(project.history()) == runs_before


def test_bad_input_is_a_one_line_error(deployable):
    project, _vendor, _server, _name = deployable

    for args, words in ((("nosuchapp",), "App 'nosuchapp' has no migrations"),
                        (("shop", "0099"), "App 'shop' has no migration named '0099'"),
                        (("shop", "--database", "nope"), "nope")):
        result = project.run("adopt", *args)
        assert result.code == 2, (args, result.out, result.err)
        assert words in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, result.err
