"""Bad input to `pilot backfill` and Backfill: one line that says what is wrong and how to fix it, exit 2.

In-process through the console script's entry point, against the test
settings' app (tests.testapp: Order, Invoice); nothing reaches a batch.
"""

from __future__ import annotations

import pytest
from django.db import models
from django.db.migrations.state import ModelState, ProjectState

from migration_pilot.backfill.keys import key_field
from migration_pilot.cli.main import main
from migration_pilot.exceptions import BackfillDefinitionError
from migration_pilot.operations import Backfill


@pytest.fixture
def file_database(tmp_path):
    """The default alias on a file for one test: the commands refuse a new in-memory database.

    Left alone when this process already holds the in-memory test database open (pytest-django set it up
    for an earlier test): the commands accept that one, and closing it would destroy it.
    """
    from django.db import connections

    connection = connections["default"]
    if connection.connection is not None:
        yield
        return
    before = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = str(tmp_path / "db.sqlite3")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = before


@pytest.mark.parametrize(("args", "message"), [
    (("testapp.Order", "--update", "nope=1"), "Model testapp.Order has no field 'nope'. Its fields are: id,"),
    (("testapp.Order", "--update", "quantity=missing + 1"), "Model testapp.Order has no field 'missing'."),
    (("testapp.Order", "--update", "quantity=1", "--where", "missing > 1"), "has no field 'missing'"),
    (("testapp.Order", "--update", "quantity=quantity +"), "--update 'quantity=quantity +' does not parse:"),
    (("testapp.Order", "--update", "quantity"), "--update 'quantity' is not FIELD=EXPRESSION."),
    (("testapp.Order", "--update", "quantity=1", "--where", "quantity >"), "--where 'quantity >' does not parse"),
    (("testapp.Order", "--update", "note=system('ls')"), "unknown function system()"),
    (("testapp.Order", "--update", "note=__import__"), "has no field '__import__'"),
    (("testapp.Order", "--update", "quantity=1", "--where", "quantity is 3"), "'is' and 'is not' only compare"),
    (("testapp.Order", "--function", "os.path:nope", "--fields", "note"), "--function 'os.path:nope' is not an"),
    (("testapp.Order", "--function", "os.path:join"), "--function needs --fields"),
    (("testapp.Order", "--update", "id=1"), "Field 'id' of testapp.Order is not a column a backfill can set."),
    (("Order", "--update", "quantity=1"), "'Order' is not APP.Model."),
    (("testapp.Order",), "Name a migration (APP MIGRATION), a model with --update or --function"),
    (("testapp.Order", "--update", "quantity=1", "--batch-time", "fast"), "Bad duration 'fast'"),
    (("testapp.Order", "--update", "quantity=1", "--batch-size", "0"), "--batch-size must be 1 or more."),
    (("testapp", "0042"), "App 'testapp' has no migration '0042'."),
    (("testapp", "0001"), "Migration testapp.0001_initial has no Backfill operation."),
    (("testapp", "0001", "--where", "n > 1"), "--where goes with --update or --function, not with a migration."),
    (("--resume", "nothing.here"), "No backfill named 'nothing.here'"),
])
def test_one_line_and_exit_2(args, message, capsys, scratch_db_access, file_database):
    code = main(["--settings", "tests.settings", "backfill", *args])

    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_a_composite_primary_key_is_refused():
    state = ProjectState()
    state.add_model(ModelState("bf", "Pair", [
        ("pk", models.CompositePrimaryKey("a", "b")), ("a", models.IntegerField()), ("b", models.IntegerField())]))

    with pytest.raises(BackfillDefinitionError) as caught:
        key_field(state.apps.get_model("bf", "Pair"))

    assert str(caught.value) == (
        "Model bf.Pair has no single-column primary key, so it cannot be walked in key order."
        " Backfill needs a single-column orderable primary key (integer, text, UUID or date).")


def test_a_primary_key_without_order_is_refused():
    state = ProjectState()
    state.add_model(ModelState("bf", "Blob", [("key", models.BinaryField(primary_key=True))]))

    with pytest.raises(BackfillDefinitionError, match="primary key key is a BinaryField, which has no usable order"):
        key_field(state.apps.get_model("bf", "Blob"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "Backfill needs exactly one of set= and function=."),
    ({"set": {"n": 1}, "function": print, "fields": ["n"]}, "Backfill needs exactly one of set= and function=."),
    ({"set": {}}, "must be a non-empty dict of field names to values"),
    ({"set": {"n": 1}, "fields": ["n"]}, "fields= goes with function=, not with set=."),
    ({"set": {"n": 1}, "reverse": print}, "reverse= of a set-based Backfill must be a dict like set=."),
    ({"function": "fill", "fields": ["n"]}, "function='fill' is not callable."),
    ({"function": print}, "A per-row Backfill needs fields=[...]"),
    ({"function": print, "fields": "n"}, "A per-row Backfill needs fields=[...]"),
    ({"function": print, "fields": ["n"], "reverse": {"n": 0}}, "reverse= of a per-row Backfill must be a function"),
    ({"set": {"n": 1}, "where": "n > 1"}, "where='n > 1' is neither a Q object nor a dict of lookups."),
    ({"set": {"n": 1}, "batch_time": 0}, "batch_time=0 must be more than 0 seconds."),
])
def test_backfill_rejects_bad_arguments(kwargs, message):
    with pytest.raises(BackfillDefinitionError) as caught:
        Backfill("order", **kwargs)

    assert message in str(caught.value)
