"""Column types for lint come from Django's backend source, never from its database driver."""

import importlib
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from migration_pilot.backends import column_types
from migration_pilot.lint.rules import alter_column_type

DRIVERS = {"mysql": "MySQLdb", "postgresql": "psycopg"}


@pytest.fixture
def without_drivers(monkeypatch):
    """Make importing either driver fail, as on a machine where it is not installed."""
    for module in [*DRIVERS.values(), "psycopg2"]:
        monkeypatch.setitem(sys.modules, module, None)
    column_types.data_types.cache_clear()
    yield
    column_types.data_types.cache_clear()


@pytest.mark.parametrize(("vendor", "field", "expected"), [
    ("mysql", models.IntegerField(), "integer"),
    ("mysql", models.CharField(max_length=30), "varchar(30)"),
    ("mysql", models.TextField(), "longtext"),
    ("mysql", models.PositiveIntegerField(), "integer UNSIGNED"),
    ("postgresql", models.CharField(max_length=30), "varchar(30)"),
    ("postgresql", models.CharField(), "varchar"),
    ("postgresql", models.JSONField(), "jsonb"),
], ids=str)
def test_types_without_the_driver(without_drivers, vendor, field, expected):
    assert alter_column_type.column_type(field, vendor).text == expected


@pytest.mark.parametrize("vendor", ["mysql", "postgresql"])
def test_table_is_djangos_own(vendor):
    try:
        base = importlib.import_module(f"django.db.backends.{vendor}.base")
    except (ImportError, ImproperlyConfigured):
        pytest.skip(f"the {vendor} driver is not installed here")
    wrapper = base.DatabaseWrapper
    real = dict(getattr(wrapper, "_data_types", None) or wrapper.data_types)

    read = column_types.data_types(vendor)

    assert read is not None
    assert {k: v for k, v in read.items() if not callable(v)} == {
        k: v for k, v in real.items() if not callable(v)}
    assert read.keys() == real.keys()


def test_unknown_vendor_has_no_table():
    assert column_types.data_types("oracle-ish") is None
