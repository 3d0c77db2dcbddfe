"""The online operations (AddIndexOnline, ...): Django's operations, online on PostgreSQL, plain elsewhere."""

from __future__ import annotations

import pytest
from django.db import NotSupportedError, models
from django.db.migrations.state import ModelState, ProjectState

from migration_pilot.operations import (
    AddConstraintOnline,
    AddFieldOnline,
    AddIndexOnline,
    AlterFieldOnline,
    RemoveIndexOnline,
)
from tests.databases import admin_connection, django_connection, scratch_database

APP = "shop"


def _state() -> ProjectState:
    state = ProjectState()
    state.add_model(ModelState(APP, "Customer", [("id", models.BigAutoField(primary_key=True))]))
    state.add_model(ModelState(APP, "Invoice", [
        ("id", models.BigAutoField(primary_key=True)),
        ("number", models.CharField(max_length=30)),
        ("amount", models.IntegerField(null=True)),
    ]))
    return state


@pytest.fixture
def pg(postgresql_server, scratch_db_access):
    """(connection, server, database) with shop_customer and shop_invoice (500 rows) created."""
    with scratch_database(postgresql_server, "pilot_ops") as name, django_connection(postgresql_server, name) as conn:
        state = _state()
        with conn.schema_editor() as editor:
            for model in ("customer", "invoice"):
                editor.create_model(state.apps.get_model(APP, model))
        with admin_connection(postgresql_server, name) as raw:
            raw.execute("INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 500) g")
        yield conn, postgresql_server, name


def _apply(conn, operation, state, *, backwards=False, atomic=False):
    new = state.clone()
    operation.state_forwards(APP, new)
    with conn.schema_editor(atomic=atomic) as editor:
        if backwards:
            operation.database_backwards(APP, editor, new, state)
        else:
            operation.database_forwards(APP, editor, state, new)
    return new


def _catalog(server, name):
    with admin_connection(server, name) as raw:
        indexes = dict(raw.execute("SELECT indexrelid::regclass::text, indisvalid FROM pg_index"
                                   " WHERE indrelid = 'shop_invoice'::regclass").fetchall())
        constraints = dict(raw.execute("SELECT conname, convalidated FROM pg_constraint"
                                       " WHERE conrelid = 'shop_invoice'::regclass").fetchall())
        columns = dict(raw.execute("SELECT attname, format_type(atttypid, atttypmod) || CASE WHEN attnotnull"
                                   " THEN ' not null' ELSE '' END FROM pg_attribute WHERE attrelid ="
                                   " 'shop_invoice'::regclass AND attnum > 0 AND NOT attisdropped").fetchall())
    return indexes, constraints, columns


def test_add_index_online_forwards_backwards_and_again(pg):
    conn, server, name = pg
    operation = AddIndexOnline("invoice", models.Index(models.functions.Lower("number"), name="number_lower_idx",
                                                       condition=models.Q(amount__gt=0)))
    state = _state()

    assert operation.describe() == ("Create index number_lower_idx on Lower(F(number)) on model invoice"
                                    " online")
    assert operation.deconstruct()[0] == "AddIndexOnline"
    new = _apply(conn, operation, state)
    assert new.models[APP, "invoice"].options["indexes"][0].name == "number_lower_idx"
    assert _catalog(server, name)[0]["number_lower_idx"] is True
    _apply(conn, operation, state)  # a migration that stopped half-way can run again
    _apply(conn, operation, state, backwards=True)
    assert "number_lower_idx" not in _catalog(server, name)[0]


def test_online_operations_refuse_a_transaction_with_the_fix(pg):
    conn, _server, _name = pg
    operation = AddIndexOnline("invoice", models.Index(fields=["amount"], name="amount_idx"))

    with pytest.raises(NotSupportedError, match=r"set atomic = False on the migration"):
        _apply(conn, operation, _state(), atomic=True)


def test_add_constraint_online_check_and_unique(pg):
    conn, server, name = pg
    state = _state()
    check = AddConstraintOnline("invoice", models.CheckConstraint(condition=models.Q(amount__gte=0), name="amount_gte_0"))
    unique = AddConstraintOnline("invoice", models.UniqueConstraint(fields=["number"], name="number_uniq"))

    state = _apply(conn, check, state)
    _apply(conn, unique, state)

    indexes, constraints, _ = _catalog(server, name)
    assert constraints["amount_gte_0"] is True and constraints["number_uniq"] is True
    assert indexes["number_uniq"] is True


def test_add_field_online_foreign_key_validated_and_indexed_concurrently(pg):
    conn, server, name = pg
    operation = AddFieldOnline("invoice", "customer", models.ForeignKey("shop.Customer", models.SET_NULL, null=True))

    _apply(conn, operation, _state())
    _apply(conn, operation, _state())  # idempotent

    indexes, constraints, columns = _catalog(server, name)
    (fk,) = [c for c in constraints if c.startswith("shop_invoice_customer_id")]
    assert constraints[fk] is True
    assert any(i.startswith("shop_invoice_customer_id") and valid for i, valid in indexes.items())
    assert columns["customer_id"] == "bigint"


def test_alter_field_online_not_null_and_widening(pg):
    conn, server, name = pg
    state = _state()
    not_null = AlterFieldOnline("invoice", "amount", models.IntegerField())
    widen = AlterFieldOnline("invoice", "amount", models.BigIntegerField())

    state = _apply(conn, not_null, state)
    assert _catalog(server, name)[2]["amount"] == "integer not null"
    _apply(conn, widen, state)

    _indexes, constraints, columns = _catalog(server, name)
    assert columns["amount"] == "bigint not null"
    assert not [c for c in constraints if "notnull" in c]  # the temporary checks are gone
    with admin_connection(server, name) as raw:
        assert raw.execute("SELECT sum(amount) FROM shop_invoice").fetchone() == (sum(range(1, 501)),)


def test_remove_index_online(pg):
    conn, server, name = pg
    add = AddIndexOnline("invoice", models.Index(fields=["amount"], name="amount_idx"))
    state = _apply(conn, add, _state())

    _apply(conn, RemoveIndexOnline("invoice", "amount_idx"), state)

    assert "amount_idx" not in _catalog(server, name)[0]


def test_plain_operation_on_sqlite(tmp_path, scratch_db_access):
    with django_connection(None, str(tmp_path / "db.sqlite3")) as conn:
        state = _state()
        with conn.schema_editor() as editor:
            editor.create_model(state.apps.get_model(APP, "invoice"))
        operation = AddIndexOnline("invoice", models.Index(fields=["amount"], name="amount_idx"))

        _apply(conn, operation, state, atomic=True)  # nothing to refuse: SQLite's index build is the only one

        with conn.cursor() as cursor:
            assert "amount_idx" in conn.introspection.get_constraints(cursor, "shop_invoice")


def test_sqlmigrate_shows_the_online_form(pg):
    conn, _server, _name = pg
    state = _state()
    operation = AddConstraintOnline("invoice", models.CheckConstraint(condition=models.Q(amount__gte=0), name="c"))
    new = state.clone()
    operation.state_forwards(APP, new)

    with conn.schema_editor(collect_sql=True, atomic=False) as editor:
        operation.database_forwards(APP, editor, state, new)

    assert editor.collected_sql == [
        "ALTER TABLE shop_invoice ADD CONSTRAINT c CHECK (amount >= 0) NOT VALID;",
        "-- after the migration's transaction commits (online form):",
        'ALTER TABLE "shop_invoice" VALIDATE CONSTRAINT "c";',
    ]


@pytest.fixture(params=["sqlite", "mysql"])
def elsewhere(request, tmp_path, scratch_db_access):
    """A Django connection on SQLite or MariaDB with shop_customer and shop_invoice created."""
    from tests.databases import scratch_connection

    server = None if request.param == "sqlite" else request.getfixturevalue("mysql_server")
    with scratch_connection(request.param, server, tmp_path) as conn:
        state = _state()
        with conn.schema_editor() as editor:
            for model in ("customer", "invoice"):
                editor.create_model(state.apps.get_model(APP, model))
        yield conn


def _shape(conn):
    """Columns (name, null) and constraints (name -> kind) of shop_invoice, read back by introspection."""
    with conn.cursor() as cursor:
        columns = {c.name: bool(c.null_ok) for c in conn.introspection.get_table_description(cursor, "shop_invoice")}
        constraints = conn.introspection.get_constraints(cursor, "shop_invoice")
    kinds = {name: ("unique" if c["unique"] and not c["primary_key"] else "check" if c["check"]
                    else "fk" if c["foreign_key"] else "index" if c["index"] else "pk")
             for name, c in constraints.items()}
    return columns, kinds


def test_plain_equivalents_on_sqlite_and_mariadb_forwards_backwards_and_again(elsewhere):
    """Elsewhere the online operations are the plain operations: same schema, reversible, re-runnable."""
    conn = elsewhere
    operations = [
        AddIndexOnline("invoice", models.Index(fields=["amount"], name="amount_idx")),
        AddConstraintOnline("invoice", models.UniqueConstraint(fields=["number"], name="number_uniq")),
        AddFieldOnline("invoice", "customer", models.ForeignKey("shop.customer", models.CASCADE, null=True)),
        AlterFieldOnline("invoice", "amount", models.BigIntegerField(default=0)),
        RemoveIndexOnline("invoice", "amount_idx"),
    ]
    states = [_state()]
    for operation in operations:
        states.append(_apply(conn, operation, states[-1], atomic=conn.features.can_rollback_ddl))
    columns, kinds = _shape(conn)

    assert columns["amount"] is False and columns["customer_id"] is True
    assert kinds.get("number_uniq") == "unique" and "amount_idx" not in kinds
    assert any(kind in {"fk", "index"} for name, kind in kinds.items() if "customer" in name)

    for operation, before in reversed(list(zip(operations, states[:-1], strict=True))):
        _apply(conn, operation, before, backwards=True, atomic=conn.features.can_rollback_ddl)
    assert _shape(conn)[0] == {"id": False, "number": False, "amount": True}
    assert "number_uniq" not in _shape(conn)[1]

    for operation, before in zip(operations, states[:-1], strict=True):
        _apply(conn, operation, before, atomic=conn.features.can_rollback_ddl)
    assert _shape(conn) == (columns, kinds)
