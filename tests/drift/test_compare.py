"""The catalog diff and the SQLite DDL scanner: pure logic, no database."""

from __future__ import annotations

from migration_pilot.drift import Catalog, Column, Constraint, Index, Table, compare
from migration_pilot.drift.model import Catalog as CatalogModel
from migration_pilot.drift.sqlite_sql import parse_table, split_top_level


def _catalog(*indexes: Index, constraints: tuple[Constraint, ...] = (), nullable: bool = False) -> Catalog:
    table = Table("shop_invoice", {"number": Column("number", "varchar(30)", nullable)}, indexes=indexes,
                  constraints=constraints)
    return Catalog("postgresql", "15", {"shop_invoice": table})


def test_identical_catalogs_have_no_differences():
    index = Index("shop_invoice_number_1a2b3c4d", ("number",), "btree (number)")

    assert compare(_catalog(index), _catalog(index)) == []


def test_index_name_suffix_is_noise_unless_strict():
    want = Index("shop_invoice_number_1a2b3c4d", ("number",), "btree (number)")
    have = Index("shop_invoice_number_9f8e7d6c", ("number",), "btree (number)")

    loose = compare(_catalog(want), _catalog(have))
    strict = compare(_catalog(want), _catalog(have), strict_names=True)

    assert loose == []
    assert [(d.kind, d.expected, d.actual) for d in strict] == [
        ("index_name", "shop_invoice_number_1a2b3c4d", "shop_invoice_number_9f8e7d6c")]


def test_same_name_other_definition_is_a_changed_index():
    want = Index("number_idx", ("number",), "btree (number)")
    have = Index("number_idx", ("number",), "hash (number)")

    (difference,) = compare(_catalog(want), _catalog(have))

    assert (difference.kind, difference.expected, difference.actual) == (
        "changed_index", "btree (number)", "hash (number)")


def test_invalid_index_and_unvalidated_constraint():
    index = Index("number_idx", ("number",), "btree (number)")
    check = Constraint("number_check", "check", (), "CHECK ((number <> ''))")

    found = compare(_catalog(index, constraints=(check,)),
                    _catalog(Index("number_idx", ("number",), "btree (number)", valid=False),
                             constraints=(Constraint("number_check", "check", (), "CHECK ((number <> ''))",
                                                     validated=False),)))

    assert sorted(d.kind for d in found) == ["invalid_index", "unvalidated_constraint"]


def test_extra_not_null_column_without_default_is_an_error_nullable_one_a_warning():
    want = _catalog()
    have = _catalog()
    have.tables["shop_invoice"].columns["a"] = Column("a", "integer", False)
    have.tables["shop_invoice"].columns["b"] = Column("b", "integer", True)

    found = {d.object: d.severity for d in compare(want, have)}

    assert found == {"a": "error", "b": "warning"}


def test_skipped_tables_are_ignored_both_ways():
    have = _catalog()
    have.tables["legacy"] = Table("legacy")

    assert compare(_catalog(), have, skip_tables={"legacy"}) == []


def test_catalog_round_trips_through_json():
    catalog = _catalog(Index("i", ("number",), "btree (number)"),
                       constraints=(Constraint("c", "unique", ("number",), "UNIQUE (number)"),))

    assert CatalogModel.from_json(catalog.to_json()) == catalog


def test_sqlite_scanner_reads_checks_collations_and_deferrable_fks():
    sql = ('CREATE TABLE "t" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "qty" integer unsigned NOT NULL'
           ' CHECK ("qty" >= 0), "name" varchar(10) COLLATE NOCASE NOT NULL, "o_id" bigint NOT NULL REFERENCES'
           ' "o" ("id") DEFERRABLE INITIALLY DEFERRED, CONSTRAINT "uniq" UNIQUE ("name", "qty"),'
           ' CONSTRAINT "positive" CHECK ("qty" > 0 AND "name" <> \'a,b\'))')

    parsed = parse_table(sql)

    assert [(c.name, c.clause, c.column) for c in parsed.checks] == [
        ("", '"qty" >= 0', "qty"), ("positive", '"qty" > 0 AND "name" <> \'a,b\'', None)]
    assert parsed.collations == {"name": "NOCASE"}
    assert parsed.deferrable == {"o_id": "deferred"}
    assert parsed.unique_names == {("name", "qty"): "uniq"}


def test_split_top_level_respects_quotes_and_parentheses():
    assert split_top_level('"a,b" int, c decimal(10, 2), d text DEFAULT \'x,y\'') == [
        '"a,b" int', "c decimal(10, 2)", "d text DEFAULT 'x,y'"]
