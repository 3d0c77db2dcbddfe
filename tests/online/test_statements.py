"""The online form of each statement Django's PostgreSQL schema editor emits (no database needed)."""

from __future__ import annotations

import pytest

from migration_pilot.online.statements import check_name, rewrite


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


EXISTING = {"shop_invoice", "shop_customer", 'we"ird'}


def online(sql: str):
    return rewrite(sql, existing_tables=EXISTING, quote=quote)


def test_index_moves_after_commit_as_concurrent_build():
    result = online('CREATE INDEX "invoice_amount_idx" ON "shop_invoice" ("amount")')

    assert result.now == ()
    (deferred,) = result.later
    assert deferred.names == {"invoice_amount_idx"}
    assert deferred.plain == 'CREATE INDEX "invoice_amount_idx" ON "shop_invoice" ("amount")'
    (step,) = deferred.steps
    assert step.kind == "index" and step.index == "invoice_amount_idx"
    assert step.sql == "CREATE INDEX CONCURRENTLY IF NOT EXISTS invoice_amount_idx ON shop_invoice (amount)"


def test_partial_unique_expression_index_keeps_its_definition():
    result = online('CREATE UNIQUE INDEX "u" ON "shop_invoice" (LOWER("number"), "amount" DESC) WHERE "amount" > 0')

    assert result.later[0].steps[0].sql == ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON shop_invoice"
                                            " ((lower(number)), amount DESC) WHERE amount > 0")


def test_foreign_key_added_not_valid_and_validated_after_commit():
    sql = ('ALTER TABLE "shop_invoice" ADD CONSTRAINT "shop_invoice_customer_id_fk" FOREIGN KEY ("customer_id")'
           ' REFERENCES "shop_customer" ("id") DEFERRABLE INITIALLY DEFERRED')

    result = online(sql)

    assert result.now == ("ALTER TABLE shop_invoice ADD CONSTRAINT shop_invoice_customer_id_fk FOREIGN KEY"
                          " (customer_id) REFERENCES shop_customer (id) DEFERRABLE INITIALLY DEFERRED NOT VALID",)
    (deferred,) = result.later
    assert [s.sql for s in deferred.steps] == [
        'ALTER TABLE "shop_invoice" VALIDATE CONSTRAINT "shop_invoice_customer_id_fk"']
    assert deferred.names == frozenset()  # the constraint exists in the transaction: nothing waits for it


def test_check_constraint_added_not_valid():
    result = online('ALTER TABLE "shop_invoice" ADD CONSTRAINT "amount_gte_0" CHECK ("amount" >= 0)')

    assert result.now == ("ALTER TABLE shop_invoice ADD CONSTRAINT amount_gte_0 CHECK (amount >= 0) NOT VALID",)
    assert result.later[0].steps[0].kind == "validate"


def test_unique_constraint_built_concurrently_then_attached():
    result = online('ALTER TABLE "shop_invoice" ADD CONSTRAINT "number_uniq" UNIQUE ("number", "amount")')

    assert result.now == ()
    build, attach = result.later[0].steps
    assert build.sql == ('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "number_uniq" ON "shop_invoice"'
                         ' ("number", "amount")')
    assert attach.sql == 'ALTER TABLE "shop_invoice" ADD CONSTRAINT "number_uniq" UNIQUE USING INDEX "number_uniq"'
    assert "pg_constraint" in attach.done_if


def test_unique_constraint_with_include_runs_as_written():
    assert online('ALTER TABLE "shop_invoice" ADD CONSTRAINT "u" UNIQUE ("number") INCLUDE ("amount")') is None


def test_set_not_null_split_from_the_other_changes_of_the_statement():
    sql = ('ALTER TABLE "shop_invoice" ALTER COLUMN "note" TYPE varchar(60),'
           ' ALTER COLUMN "note" SET NOT NULL')

    result = online(sql)

    assert result.now == ("ALTER TABLE shop_invoice ALTER COLUMN note TYPE varchar(60)",)
    (deferred,) = result.later
    check = check_name("shop_invoice", "note")
    assert [s.sql for s in deferred.steps] == [
        f'ALTER TABLE "shop_invoice" ADD CONSTRAINT "{check}" CHECK ("note" IS NOT NULL) NOT VALID',
        f'ALTER TABLE "shop_invoice" VALIDATE CONSTRAINT "{check}"',
        'ALTER TABLE "shop_invoice" ALTER COLUMN "note" SET NOT NULL',
        f'ALTER TABLE "shop_invoice" DROP CONSTRAINT IF EXISTS "{check}"',
    ]
    assert deferred.names == {"note"}


@pytest.mark.parametrize("sql", [
    'CREATE INDEX "i" ON "shop_new" ("a")',                                  # a table the deploy creates
    'CREATE INDEX CONCURRENTLY "i" ON "shop_invoice" ("a")',                # already online
    'ALTER TABLE "shop_invoice" ADD COLUMN "note" varchar(50) NULL',       # catalog-only
    'ALTER TABLE "shop_invoice" ADD CONSTRAINT "c" CHECK ("a" > 0) NOT VALID',
    'CREATE TABLE "shop_invoice2" ("id" bigint NOT NULL PRIMARY KEY)',
    "SELECT 1; SELECT 2",
    "THIS IS NOT SQL",
])
def test_runs_as_written(sql):
    assert online(sql) is None


def test_hostile_names_are_quoted_with_the_backends_quote_name():
    result = online('ALTER TABLE "we""ird" ALTER COLUMN "co""l; DROP TABLE x" SET NOT NULL')

    steps = [s.sql for s in result.later[0].steps]
    assert steps[2] == 'ALTER TABLE "we""ird" ALTER COLUMN "co""l; DROP TABLE x" SET NOT NULL'
    # Names reach catalog lookups as string literals of the quoted identifier.
    assert """'"we""ird"'::regclass""" in result.later[0].steps[0].done_if


def test_check_name_fits_postgresql_identifiers():
    assert len(check_name("t" * 63, "c" * 63)) <= 63
    assert check_name("a", "b") != check_name("a", "c")


def _facts(kind="int4", blockers=(), rewrites=True):
    from migration_pilot.online.swap import ColumnFacts

    return lambda table, column, new_type=None: ColumnFacts(kind, kind, True, "0", "id", tuple(blockers), (),
                                                            rewrites)


def test_integer_widening_becomes_an_online_swap():
    sql = 'ALTER TABLE "shop_invoice" ALTER COLUMN "amount" TYPE bigint USING "amount"::bigint'

    result = rewrite(sql, existing_tables=EXISTING, quote=quote, inspect=_facts())

    assert result.now == ()
    (deferred,) = result.later
    (step,) = deferred.steps
    assert step.kind == "swap" and step.label == "change shop_invoice.amount to bigint online"
    assert deferred.plain == 'ALTER TABLE "shop_invoice" ALTER COLUMN "amount" TYPE bigint USING "amount"::bigint'


@pytest.mark.parametrize("sql, facts", [
    ('ALTER TABLE "shop_invoice" ALTER COLUMN "amount" TYPE bigint USING "amount"::bigint',
     _facts(blockers=["view totals"])),                                     # a view depends on it
    ('ALTER TABLE "shop_invoice" ALTER COLUMN "amount" TYPE bigint USING "amount"::bigint',
     _facts(kind="int8", rewrites=False)),                                  # PostgreSQL: catalog only
    ('ALTER TABLE "shop_invoice" ALTER COLUMN "amount" TYPE bigint USING ("amount" * 100)::bigint', _facts()),
    ('ALTER TABLE "shop_invoice" ALTER COLUMN "number" TYPE varchar(60)', _facts(kind="varchar", rewrites=False)),
])
def test_type_changes_the_swap_does_not_cover_run_as_written(sql, facts):
    assert rewrite(sql, existing_tables=EXISTING, quote=quote, inspect=facts) is None
