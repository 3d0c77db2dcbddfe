"""Backfill as a Django operation: description, deconstruct round trip, state, forwards and backwards."""

from __future__ import annotations

import pytest
from django.db import models
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter
from django.db.models import F, Q
from django.db.models.functions import Upper

from migration_pilot.models import BackfillCheckpoint
from migration_pilot.operations import Backfill
from tests.backfill.conftest import prepare, raw_count


def mark(item):
    item.code = "row"


def unmark(item):
    item.code = None


def test_description_and_name_fragment():
    set_based = Backfill("Item", set={"code": Upper("status")}, where=Q(code__isnull=True))
    per_row = Backfill("Item", function=mark, fields=["code", "n"])

    assert set_based.describe() == "Backfill code of Item in committed batches"
    assert set_based.formatted_description() == "p Backfill code of Item in committed batches"
    assert set_based.migration_name_fragment == "backfill_item_code"
    assert per_row.describe() == "Backfill code, n of Item in committed batches with mark()"
    assert per_row.migration_name_fragment == "backfill_item_code_n"
    assert (Backfill.reduces_to_sql, Backfill.atomic, Backfill.reversible) == (False, False, True)


@pytest.mark.parametrize("operation", [
    Backfill("Item", set={"code": Upper("status"), "n": F("n") + 1}, where=Q(code__isnull=True), batch_time=0.5,
             max_lag=None),
    Backfill("Item", set={"n": 0}, where={"status": "paid"}, reverse={"n": None}, name="items.reset", sleep=0.1),
    Backfill("Item", function=mark, fields=["code"], reverse=unmark, batch_size=50, analyze=False),
])
def test_deconstruct_round_trip_through_a_migration_file(operation):
    name, args, kwargs = operation.deconstruct()
    source, imports = MigrationWriter.serialize(operation)
    namespace: dict = {}
    exec("\n".join(sorted(imports)) + f"\nfrom {__name__} import mark, unmark\nrebuilt = {source}", namespace)

    rebuilt = namespace["rebuilt"]

    assert name == "Backfill" and args == ["Item"]
    assert rebuilt.deconstruct() == (name, args, kwargs)
    assert Backfill(*args, **kwargs).deconstruct() == (name, args, kwargs)
    assert rebuilt.checkpoint_name("bf") == operation.checkpoint_name("bf")
    assert "batch_time" not in kwargs or kwargs["batch_time"] == 0.5


def test_checkpoint_name_follows_the_work_not_the_tuning():
    base = Backfill("Item", set={"n": 1})

    assert base.checkpoint_name("bf").startswith("bf.item.n.")
    assert Backfill("Item", set={"n": 1}, batch_time=1.0).checkpoint_name("bf") == base.checkpoint_name("bf")
    assert Backfill("Item", set={"n": 2}).checkpoint_name("bf") != base.checkpoint_name("bf")
    assert Backfill("Item", set={"n": 1}, where={"n": 0}).checkpoint_name("bf") != base.checkpoint_name("bf")
    assert Backfill("Item", set={"n": 1}, name="mine").checkpoint_name("bf") == "mine"


def test_state_does_not_change():
    state = ProjectState()
    state.add_model(ModelState("bf", "Item", [("id", models.BigAutoField(primary_key=True))]))
    before = state.clone()

    Backfill("Item", set={"n": 1}).state_forwards("bf", state)

    assert state == before


def item_states(connection, rows):
    model = prepare(connection, rows)
    state = ProjectState()
    state.add_model(ModelState.from_model(model))
    return state


@pytest.mark.parametrize("form", ["set", "function"])
def test_forwards_backwards_and_forwards_again(vendor_connection, form):
    vendor, server, name, connection = vendor_connection
    state = item_states(connection, 600)
    operation = (Backfill("Item", set={"code": "row"}, reverse={"code": None}, batch_size=100, min_batch_size=100, max_batch_size=100)
                 if form == "set" else
                 Backfill("Item", function=mark, fields=["code"], reverse=unmark, batch_size=100, min_batch_size=100, max_batch_size=100))
    checkpoints = BackfillCheckpoint.objects.using(connection.alias)
    marked = "SELECT COUNT(*) FROM bf_item WHERE code = 'row'"

    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("bf", editor, state, state)
    after_forwards = raw_count(vendor, server, name, marked), list(checkpoints.values_list("state", "batches"))
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("bf", editor, state, state)
    after_backwards = raw_count(vendor, server, name, marked), checkpoints.count()
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("bf", editor, state, state)

    assert after_forwards == (600, [("done", 6)])
    assert after_backwards == (0, 0)  # reverse ran; both checkpoints are gone, so forwards runs again
    assert raw_count(vendor, server, name, marked) == 600


def test_backwards_without_reverse_only_forgets_the_checkpoint(vendor_connection):
    vendor, server, name, connection = vendor_connection
    state = item_states(connection, 300)
    operation = Backfill("Item", set={"n": F("n") + 1})

    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("bf", editor, state, state)
        operation.database_backwards("bf", editor, state, state)
        operation.database_forwards("bf", editor, state, state)

    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 2") == 300
