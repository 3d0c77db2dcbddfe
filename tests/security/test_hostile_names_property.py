"""S7, property-based: generated hostile names through the SQL the tool builds from names.

test_hostile_names*.py drive a handful of chosen names through the whole pipeline; here hypothesis
generates the table, column and index names: printable unicode, single quotes and backticks (the other
vendors' quote characters), semicolons, comment dashes, spaces and backslashes, up to the backend's
length limit (63 bytes on PostgreSQL, 64 on MariaDB). Excluded are only the backend's own quote
character (a double quote on PostgreSQL and SQLite; on MariaDB a backtick, and double quotes take its
place) and NUL: Django's quote_name wraps a name in quotes without doubling a quote inside it, and no
server takes NUL in a name, so neither can reach a migration.

For each name set, in-process on a scratch database (SQLite, PostgreSQL and MariaDB):
- verify's drift explanation (drift/explain.py) of an extra index and an extra column gives fixes
  that run, each dropping exactly the named object: the catalog afterwards is the one before minus
  that object, and a bystander table with a column of the same name keeps it;
- PostgreSQL: the sequence fix (drift/sequences.py) of a sequence left behind its table runs, and the
  next INSERT without an id succeeds, while the bystander's sequence is untouched; an index left INVALID
  under the generated name by a failed concurrent build is found and dropped by the deploy's clean-up;
- maintain's ANALYZE statement (maintain/actions.py) runs and analyses that table only.
Examples are few (25) and undelayed, so the whole file runs in seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from migration_pilot.drift.catalog import read_catalog
from migration_pilot.drift.compare import compare
from migration_pilot.drift.explain import explain
from migration_pilot.drift.sequences import sequence_differences
from migration_pilot.maintain.actions import plan_actions, run_actions
from migration_pilot.maintain.inspect import inspect_tables
from tests.databases import django_connection, scratch_database

BYSTANDER = "pilot_bystander"
HOSTILE = ";'`\\- "
"""Characters that break naive SQL building: statement end, the other quotes, escape, comment, space."""
LIMITS = {"postgresql": 63, "sqlite": 80, "mysql": 64}
"""Longest name generated, in UTF-8 bytes: PostgreSQL's NAMEDATALEN - 1; SQLite has no limit; MySQL's 64
characters (counted here as bytes, which stays within it)."""
OWN_QUOTE = {"postgresql": '"', "sqlite": '"', "mysql": "`"}
"""The backend's own quote character, which Django's quote_name does not double (so never generated)."""


def names(vendor: str) -> st.SearchStrategy[str]:
    """One identifier for `vendor`, never `"` or NUL: printable unicode around at least one hostile
    character, half of them padded to exactly the backend's length limit."""
    quote = OWN_QUOTE[vendor]
    hostile = HOSTILE.replace(quote, '"') if quote != '"' else HOSTILE
    # MySQL takes identifiers from the Basic Multilingual Plane only.
    printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"),
                              exclude_characters=quote + "\x00", max_codepoint=0xFFFF if vendor == "mysql" else None)
    limit = LIMITS[vendor]
    part = st.text(st.one_of(st.sampled_from(hostile), printable), max_size=limit // 4)
    core = st.builds(lambda head, bad, tail: head + bad + tail, part, st.text(st.sampled_from(hostile), min_size=1,
                                                                               max_size=4), part)
    padded = core.map(lambda name: name + "x" * (limit - len(name.encode())))
    usable = st.one_of(core, padded).filter(lambda name: len(name.encode()) <= limit)
    if vendor == "mysql":  # MySQL refuses a name that ends with a space
        usable = usable.filter(lambda name: not name.endswith(" "))
    return usable


def name_sets(vendor: str) -> st.SearchStrategy[tuple[str, str, str]]:
    """(table, column, index), distinct from each other and from the fixed names, as the server compares."""
    return st.tuples(names(vendor), names(vendor), names(vendor))


def _fold(vendor: str, name: str) -> str:
    """How the server compares names: SQLite ignores ASCII case, PostgreSQL compares exact quoted names,
    MySQL compares column and index names without case or accents (here: an ASCII fold of the NFKD form)."""
    if vendor == "mysql":
        import unicodedata

        return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().rstrip()
    return name.lower() if vendor == "sqlite" else name


def _usable(vendor: str, table: str, column: str, index: str) -> bool:
    reserved = {BYSTANDER, f"{BYSTANDER}_idx", f"{BYSTANDER}_id_seq", "id", "keep"}
    folded = [_fold(vendor, n) for n in (table, column, index)]
    if vendor == "sqlite" and any(n.startswith("sqlite_") for n in folded):
        return False  # names SQLite keeps for itself
    if vendor == "postgresql" and ("_id_seq" in index or "_pkey" in index):
        return False  # could meet the name PostgreSQL gives the table's own sequence or primary key index
    if vendor == "mysql" and (len(set(folded)) < 3 or not all(folded) or index.upper() == "PRIMARY"):
        return False  # a fold this test cannot predict (accents, case) must not decide the example
    return len({folded[0], folded[2]}) == 2 and not set(folded) & {_fold(vendor, r) for r in reserved}


def _run_example(connection, table: str, column: str, index: str) -> None:
    vendor = connection.vendor
    q = connection.ops.quote_name
    serial = {"postgresql": "serial", "mysql": "integer AUTO_INCREMENT"}.get(vendor, "integer")
    setup = [
        f"CREATE TABLE {q(table)} (id {serial} PRIMARY KEY, {q(column)} integer, keep integer)",
        f"CREATE INDEX {q(index)} ON {q(table)} ({q(column)})",
        f"CREATE TABLE {q(BYSTANDER)} (id {serial} PRIMARY KEY, {q(column)} integer)",
        f"CREATE INDEX {q(BYSTANDER + '_idx')} ON {q(BYSTANDER)} ({q(column)})",
        f"INSERT INTO {q(table)} (id, {q(column)}, keep) VALUES (5, 1, 1)",
        f"INSERT INTO {q(BYSTANDER)} ({q(column)}) VALUES (1)",
    ]
    try:
        with connection.cursor() as cursor:
            for sql in setup:
                cursor.execute(sql)
        _drift_fixes(connection, table, column, index)
        if vendor == "postgresql":
            _sequence_fix(connection, table)
            _index_repair(connection, table, index)
        _analyze(connection, table)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {q(table)}")
            cursor.execute(f"DROP TABLE IF EXISTS {q(BYSTANDER)}")


def _statement(fix: str) -> str:
    """The SQL of a 'Drop it: ...;' fix (a name may hold ';', so only the final one is taken off)."""
    assert fix.startswith("Drop it: ") and fix.endswith(";"), fix
    return fix[len("Drop it: "):-1]


def _drift_fixes(connection, table: str, column: str, index: str) -> None:
    before = read_catalog(connection)
    live = before.tables[table]
    assert column in live.columns and index in {i.name for i in live.indexes}, live
    without_index = dataclasses.replace(live, indexes=tuple(i for i in live.indexes if i.name != index))
    without_column = dataclasses.replace(without_index, columns={k: v for k, v in live.columns.items() if k != column})
    expected = dataclasses.replace(before, tables={**before.tables, table: without_column})
    found = explain(compare(expected, before), expected=expected, actual=before, vendor=connection.vendor,
                    quote=connection.ops.quote_name, origins=None)
    fixes = {(d.kind, d.object): d.fix for d in found}
    assert set(fixes) == {("extra_index", index), ("extra_column", column)}, found

    with connection.cursor() as cursor:
        cursor.execute(_statement(fixes["extra_index", index]))
    after_index = read_catalog(connection)
    assert after_index.tables == {**before.tables, table: without_index}

    with connection.cursor() as cursor:
        cursor.execute(_statement(fixes["extra_column", column]))
    assert read_catalog(connection).tables == expected.tables


def _sequence_fix(connection, table: str) -> None:
    q = connection.ops.quote_name
    behind = [d for d in sequence_differences(connection) if d.kind == "sequence_behind"]
    assert [d.table for d in behind] == [table], behind
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM pg_sequences WHERE sequencename = %s",
                       [f"{BYSTANDER}_id_seq"])
        bystander_before = cursor.fetchone()
        cursor.execute(behind[0].fix)
        cursor.execute(f"INSERT INTO {q(table)} (keep) VALUES (2) RETURNING id")
        assert cursor.fetchone() == (6,)
        cursor.execute("SELECT last_value FROM pg_sequences WHERE sequencename = %s",
                       [f"{BYSTANDER}_id_seq"])
        assert cursor.fetchone() == bystander_before
    assert sequence_differences(connection) == []


def _index_repair(connection, table: str, index: str) -> None:
    """A failed CREATE UNIQUE INDEX CONCURRENTLY under the generated name leaves it INVALID; the deploy's
    clean-up (pipeline/invalid_indexes.py) finds and drops exactly that index, the bystander's stays."""
    from migration_pilot.pipeline.invalid_indexes import drop, invalid_indexes

    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {q(table)} (keep) VALUES (1)")  # a second keep = 1: the build must fail
        with pytest.raises(Exception, match="could not create unique index"):
            cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {q(index)} ON {q(table)} (keep)")
    found = invalid_indexes(connection)
    assert {(i.name, i.table) for i in found} == {(index, table)}, found
    cleanup = drop(connection, found)
    assert [i.name for i in cleanup.dropped] == [index] and not cleanup.left, cleanup
    assert invalid_indexes(connection) == set()
    assert {i.name for i in read_catalog(connection).tables[BYSTANDER].indexes} >= {f"{BYSTANDER}_idx"}


def _analyzed(connection) -> dict[str, int]:
    """Per table, how often it was analysed (PostgreSQL) or whether it has statistics (SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relname, analyze_count FROM pg_stat_user_tables")
        elif connection.vendor == "mysql":  # ANALYZE TABLE renews InnoDB's persistent statistics of that table
            cursor.execute("SELECT table_name, UNIX_TIMESTAMP(last_update) FROM mysql.innodb_table_stats"
                           " WHERE database_name = DATABASE()")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return {}
            cursor.execute("SELECT tbl, count(*) FROM sqlite_stat1 GROUP BY tbl")
        return {str(name): int(count) for name, count in cursor.fetchall()}


def _analyze(connection, table: str) -> None:
    before = _analyzed(connection)
    actions = plan_actions(connection, inspect_tables(connection, [table]))
    assert [a.table for a in actions] == [table], actions
    results = run_actions(connection, actions)
    assert [r.ok for r in results] == [True], results
    after = _analyzed(connection)
    if connection.vendor == "postgresql":
        assert after.get(table, 0) == before.get(table, 0) + 1, (before, after)
    elif connection.vendor == "mysql":
        assert table in after, (before, after)
    else:  # the bystander has an index and a row too: an ANALYZE of more than the table writes its statistics
        assert table not in before and table in after, (before, after)
    assert after.get(BYSTANDER, 0) == before.get(BYSTANDER, 0), (before, after)


MIN_RUN = 15
"""At least this many of the 25 examples must pass the usability filter, or the test proves little."""
EXAMPLES = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


def test_generated_names_through_drift_fixes_and_analyze_on_sqlite(tmp_path, scratch_db_access):
    with django_connection(None, str(tmp_path / "hostile.sqlite3")) as connection:

        @EXAMPLES
        @given(name_sets("sqlite"))
        def check(names_: tuple[str, str, str]) -> None:
            assume(_usable("sqlite", *names_))
            _run_example(connection, *names_)
            ran.append(names_)

        ran: list[tuple[str, str, str]] = []
        check()
        assert len(ran) >= MIN_RUN, f"only {len(ran)} examples ran: the generator rejects too many"


@pytest.mark.postgresql
def test_generated_names_through_drift_fixes_sequence_fix_and_analyze_on_postgresql(postgresql_server):
    with scratch_database(postgresql_server, "pilot_hprop") as name, \
            django_connection(postgresql_server, name) as connection:

        @EXAMPLES
        @given(name_sets("postgresql"))
        def check(names_: tuple[str, str, str]) -> None:
            assume(_usable("postgresql", *names_))
            _run_example(connection, *names_)
            ran.append(names_)

        ran: list[tuple[str, str, str]] = []
        check()
        assert len(ran) >= MIN_RUN, f"only {len(ran)} examples ran: the generator rejects too many"


@pytest.mark.mysql
def test_generated_names_through_drift_fixes_and_analyze_on_mariadb(mysql_server):
    with scratch_database(mysql_server, "pilot_hprop") as name, django_connection(mysql_server, name) as connection:

        @EXAMPLES
        @given(name_sets("mysql"))
        def check(names_: tuple[str, str, str]) -> None:
            assume(_usable("mysql", *names_))
            _run_example(connection, *names_)
            ran.append(names_)

        ran: list[tuple[str, str, str]] = []
        check()
        assert len(ran) >= MIN_RUN, f"only {len(ran)} examples ran: the generator rejects too many"
