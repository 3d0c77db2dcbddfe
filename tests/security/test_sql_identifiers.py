"""S7: no SQL statement in the package interpolates a name that did not go through the backend's quoting.

tests/security/sql_scan.py reads every module with ast and lists each value an SQL-looking f-string (or
`%` / `.format`) interpolates that is not visibly quoted. The findings that are safe for a reason the scan
cannot see are listed below, each with that reason; anything else fails, and so does an entry that no
longer matches (the list cannot go stale).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.security.sql_scan import scan_package, scan_source

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "migration_pilot"

QUOTED_BY_CALLER = "the value is already quoted where it is built (the caller passes q(...) / quote_name(...))"
SQL_FRAGMENT = ("an SQL fragment, not a name: a type, default, index or constraint definition read from the"
                " database's own catalog (format_type, pg_get_*def, SHOW CREATE) or deparsed by pglast")
CONSTANT = "one of a fixed set of keywords or view names chosen in the code, never from input"
FOR_A_PERSON = ("text shown to a person (a lint message quoting the user's own statement, or a GRANT to run"
                " by hand), never executed by the tool")

ALLOWED: dict[tuple[str, str], tuple[set[str], str]] = {
    ("analysis/reversal.py", "LiveData.count"): ({"condition"}, "built by the callers from quote(column) (count())"),
    ("backup/position.py", "_mysql_position_once"): ({"scope", "variable"}, CONSTANT),
    ("backup/postgresql.py", "drop_statements"): ({"kind"}, CONSTANT + " (TABLE, VIEW, SEQUENCE by relkind)"),
    ("backup/privileges.py", "_extension_problem"): ({"database", "user"}, FOR_A_PERSON),
    ("backup/privileges.py", "_role_problems"): ({"fix.format(user=user)", "role", "user"}, FOR_A_PERSON),
    ("drift/catalog_mysql.py", "_rows"): ({"column", "view"}, CONSTANT + " (information_schema views)"),
    ("drift/explain.py", "_Explainer._add_constraint"): ({"c.definition"}, SQL_FRAGMENT),
    ("drift/explain.py", "_Explainer._alter_column"): (
        {"column.default", "column.type", "self._column_sql(column)"}, SQL_FRAGMENT),
    ("drift/explain.py", "_Explainer._create_index"): ({"body", "index.definition"}, SQL_FRAGMENT),
    ("drift/explain.py", "_Explainer._drop_constraint"): ({"what"}, CONSTANT + " (or CONSTRAINT + q(name))"),
    ("drift/explain.py", "_Explainer._fix_missing_column"): ({"self._column_sql(column)"}, SQL_FRAGMENT),
    ("fleet/applied.py", "_union"): (
        {"select.format(table=quote(schema) + '.django_migrations')", "tag"},
        "a constant column list formatted with quote(schema); the tag is an integer position"),
    ("fleet/deploy.py", "_save_rows"): ({"FleetTenant._meta.db_table"}, "the tool's own model's fixed table name"),
    ("fleet/replay.py", "transaction"): ({"search_path(schema, shared, quote)"}, "search_path() quotes each schema"),
    ("lint/rules/add_field_rewrites_table.py", "volatile_call"): ({"expression.sql"}, FOR_A_PERSON),
    ("lint/rules/add_unique_non_concurrent.py", "_two_step"): ({"unique.deferrable", "unique.nulls"}, CONSTANT),
    ("lint/rules/alter_column_type.py", "_parse"): ({"text"}, "the user's own type text, parsed by pglast, not run"),
    ("lint/rules/concurrent_in_atomic.py", "check_create_index"): ({"stmt.idxname or '(unnamed)'"}, FOR_A_PERSON),
    ("lint/rules/concurrent_in_atomic.py", "check_drop_index"): ({"names"}, FOR_A_PERSON),
    ("lint/rules/concurrent_in_atomic.py", "check_new_enum_value_used"): ({"literal", "type_name"}, FOR_A_PERSON),
    ("lint/rules/concurrent_in_atomic.py", "check_reindex"): ({"target or ''"}, FOR_A_PERSON),
    ("lint/rules/reindex_non_concurrent.py", "_concurrent_sql"): ({"options", "target", "word"}, FOR_A_PERSON),
    ("lint/rules/reindex_non_concurrent.py", "check_sql"): ({"what"}, FOR_A_PERSON),
    ("lint/rules/unbatched_backfill.py", "_batched_sql"): ({"where"}, "the user's own WHERE, parsed by pglast, not run"),
    ("lint/rules/unbatched_backfill.py", "check_sql"): (
        {"ctx.app_label", "ctx.migration.name", "table"}, FOR_A_PERSON),
    ("maintain/actions.py", "check_privileges"): ({"owner", "role", "table"}, FOR_A_PERSON),
    ("monitor/mysql.py", "MysqlProbe.sample"): ({"self._elapsed()"}, CONSTANT + " (TIME or TIME_MS / 1000)"),
    ("online/rename.py", "expand"): ({"column_type"}, SQL_FRAGMENT),
    ("online/table_rename.py", "_comment_sql"): (
        {"literal"}, "a string literal with its quotes doubled (collect-SQL mode for plan/docs; the view name"
                     " is quote_name()d)"),
    ("online/statements.py", "_command"): ({"_deparse(constraint)", "table_sql"},
                                           "_table_sql() returns quote(schema).quote(name); the rest is deparsed"),
    ("online/statements.py", "_index"): ({"table"}, FOR_A_PERSON + " (the lock message)"),
    ("online/statements.py", "_not_null"): ({"table", "table_sql"}, "_table_sql() quotes; table is in the message"),
    ("online/statements.py", "_type_change"): ({"new_type", "table_sql"}, "_table_sql() quotes; the type is SQL"),
    ("online/statements.py", "_unique"): ({"_deparse(constraint)", "table_sql"}, "_table_sql() quotes; deparsed"),
    ("online/swap.py", "_copy"): ({"column", "new", "new_type", "pk", "table", "where"},
                                  QUOTED_BY_CALLER + " (_swap: t, c, n = q(...), q(primary key)); the type is SQL"),
    ("online/swap.py", "_swap"): ({"facts.default", "new_type"}, SQL_FRAGMENT),
    ("online/swap.py", "rewrites_table"): ({"new_sql", "old_sql"}, SQL_FRAGMENT + " (column types)"),
    ("pipeline/privileges.py", "_mysql_table_refusal"): ({"', '.join(lacking)", "grantee"},
                                                         FOR_A_PERSON + " (privilege names from a fixed list;"
                                                         " the grantee as the server formats CURRENT_USER())"),
    ("testing/snapshots.py", "PostgreSQLSnapshots.make_scratch"): ({"self._strategy()"}, CONSTANT),
    ("testing/snapshots.py", "PostgreSQLSnapshots.restore"): ({"self._strategy()"}, CONSTANT),
    ("testing/snapshots.py", "PostgreSQLSnapshots.take"): ({"strategy"}, CONSTANT),
}


def findings() -> dict[tuple[str, str], set[str]]:
    grouped: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in scan_package(PACKAGE):
        grouped[(finding.path.removeprefix("src/migration_pilot/"), finding.function)].add(finding.expression)
    return grouped


def test_no_sql_interpolates_an_unquoted_name():
    found = findings()
    unexpected = [f"{path} {function}: {sorted(exprs - ALLOWED.get((path, function), (set(), ''))[0])}"
                  for (path, function), exprs in sorted(found.items())
                  if exprs - ALLOWED.get((path, function), (set(), ""))[0]]
    assert unexpected == [], ("SQL built from names without quote_name/quote(); quote them, or allow-list the"
                              " case in tests/security/test_sql_identifiers.py with the reason")


def test_the_allow_list_is_not_stale():
    found = findings()
    stale = [f"{path} {function}: {sorted(exprs - found.get((path, function), set()))}"
             for (path, function), (exprs, _reason) in sorted(ALLOWED.items())
             if exprs - found.get((path, function), set())]
    assert stale == []
    assert all(reason for _exprs, reason in ALLOWED.values())


def test_the_scan_sees_what_it_must():
    """Not vacuous: spliced names are found in f-strings, % and .format; quoted ones are not."""
    source = '''
def bad(cursor, table, column):
    cursor.execute(f"SELECT max({column}) FROM {table}")
    cursor.execute("DROP TABLE %s" % table)
    cursor.execute("ALTER TABLE {} DROP COLUMN x".format(table))
    cursor.execute(f'ALTER TABLE "{table}" ADD COLUMN y int')

def good(connection, cursor, table, columns):
    q = connection.ops.quote_name
    t = q(table)
    cols = ", ".join(q(c) for c in columns)
    cursor.execute(f"SELECT {cols} FROM {t} LIMIT {int(10)}")
    cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
    cursor.execute("SELECT 1 FROM x WHERE name = %s", [table])
    message = f"Table {table} is big"
'''
    found = sorted((f.function, f.expression) for f in scan_source(source))

    assert found == [("bad", "column"), ("bad", "table"), ("bad", "table"), ("bad", "table"), ("bad", "table")]
