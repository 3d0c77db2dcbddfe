"""Missing database privileges, named in one line with the grant that fixes them (S9).

The tool needs no superuser: a deploy needs a role that owns the tables it alters and holds CREATE on
the schema; verify needs SELECT only (and CREATEDB for its shadow database, else it falls back to the
migration state). When the role lacks what a command reads, the command stops with one line naming
every table it may not read and the GRANT statement, instead of a driver traceback.
"""

from __future__ import annotations

import re
from typing import Any, Final

from migration_pilot.exceptions import PilotError

_PG_UNREADABLE: Final = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p', 'v', 'm')
  AND NOT has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2
"""


class MissingPrivilegeError(PilotError, PermissionError):
    """The database role may not read what the command needs; names the tables and the grant."""

    def __init__(self, alias: str, role: str, tables: list[tuple[str, str]]) -> None:
        self.alias, self.role, self.tables = alias, role, tables

    def __str__(self) -> str:
        shown = ", ".join(name for _schema, name in self.tables[:8]) + (", ..." if len(self.tables) > 8 else "")
        schemas = sorted({schema for schema, _name in self.tables})
        grants = "; ".join(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_ident(s)} TO {_ident(self.role)}"
                           for s in schemas)
        return (f"Role {self.role!r} of database alias {self.alias!r} may not read {len(self.tables)} table(s):"
                f" {shown} (permission denied). Grant it: {grants} (a deploy also needs INSERT, UPDATE and"
                " DELETE on django_migrations and the migration_pilot_* tables, and must own the tables it"
                " alters).")


def _ident(name: str) -> str:
    """A PostgreSQL identifier as it would be typed in a GRANT (quoted only when it must be)."""
    plain = name.isidentifier() and name == name.lower() and name.isascii()
    return name if plain else '"' + name.replace('"', '""') + '"'


def check_history_readable(connection: Any) -> None:
    """Raise MissingPrivilegeError when the role may not read django_migrations (PostgreSQL).

    One catalog query; a table that does not exist yet is not a problem (a first deploy creates it).
    Other vendors: a MySQL/MariaDB user without privileges on the database cannot connect to it at all,
    which is already a one-line error.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(to_regclass(%s), 'SELECT')",
                       [connection.ops.quote_name("django_migrations")])
        allowed = cursor.fetchone()[0]
    if allowed is False:
        raise missing_select(connection)


def missing_select(connection: Any) -> MissingPrivilegeError:
    """Every table on the search path the role may not SELECT from (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(_PG_UNREADABLE)
        tables = [(str(schema), str(name)) for schema, name in cursor.fetchall()]
        cursor.execute("SELECT current_user")
        role = str(cursor.fetchone()[0])
    return MissingPrivilegeError(connection.alias, role, tables)


def deploy_refusal(connection: Any, tables: frozenset[str] | set[str], kind: str = "deploy",
                   drops: frozenset[str] | set[str] = frozenset()) -> str | None:
    """The refusal when the role lacks what a deploy of `tables` needs (PostgreSQL), else None.

    Needed: SELECT, INSERT, UPDATE, DELETE on django_migrations and the run history tables (USAGE on
    their sequences), ownership of every existing table the plan alters (ALTER TABLE needs it, or
    membership in the owner's role), CREATE on the schema for the tables it creates. `drops` are the
    tables a backwards plan's reverses drop (a reverse of CreateModel): DROP TABLE needs ownership too,
    and the server would otherwise refuse it in the middle of the rollback. All of it is named in one
    line, before anything is recorded or changed.
    """
    tables = set(tables) | set(drops)
    if connection.vendor == "mysql":
        return _mysql_refusal(connection, tables, kind)
    if connection.vendor != "postgresql":
        return None
    from django.apps import apps

    quote = connection.ops.quote_name
    history = ["django_migrations",
               *(m._meta.db_table for m in apps.get_app_config("migration_pilot").get_models())]
    missing: dict[tuple[str, ...], list[str]] = {}
    sequences: list[str] = []
    owners: list[tuple[str, str]] = []
    creates = False
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema(), has_schema_privilege(current_schema(), 'CREATE')")
        role, schema, can_create = cursor.fetchone()
        for table in history:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [quote(table)])
            if not cursor.fetchone()[0]:
                creates = True
                continue
            cursor.execute(
                "SELECT ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p"
                " WHERE NOT has_table_privilege(to_regclass(%s), p)), pg_get_serial_sequence(%s, 'id')",
                [quote(table), quote(table)])
            lacking, sequence = cursor.fetchone()
            if lacking:
                missing.setdefault(tuple(lacking), []).append(table)
            if sequence:
                cursor.execute("SELECT has_sequence_privilege(%s, 'USAGE')", [sequence])
                if not cursor.fetchone()[0]:
                    sequences.append(table)
        for table in sorted(tables):
            cursor.execute("SELECT pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE') FROM pg_class c"
                           " WHERE c.oid = to_regclass(%s)", [quote(table)])
            row = cursor.fetchone()
            if row is None:
                creates = True
            elif not row[1]:
                owners.append((table, str(row[0])))
    problems, grants = [], []
    for lacking, names in missing.items():
        problems.append(f"{', '.join(lacking)} on {', '.join(names)}")
        grants.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(quote(n) for n in names)}"
                      f" TO {quote(role)}")
    if sequences:
        problems.append(f"USAGE on the id sequences of {', '.join(sequences)}")
        grants.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {quote(role)}")
    for table, owner in owners:
        dropped = f"; this {kind} drops it" if table in drops else ""
        problems.append(f"ownership of {table} (owner {owner}{dropped})")
        grants.append(f"ALTER TABLE {quote(table)} OWNER TO {quote(role)} (or GRANT {quote(owner)} TO {quote(role)})")
    if creates and not can_create:
        problems.append(f"the CREATE privilege on schema {schema}")
        grants.append(f"GRANT CREATE ON SCHEMA {quote(schema)} TO {quote(role)}")
    if not problems:
        return None
    return (f"Refused: role {role!r} lacks privileges this {kind} needs: {'; '.join(problems)}."
            f" Grant them (no superuser needed): {'; '.join(grants)}.")


_MY_GRANTEE: Final = ("CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''',"
                      " SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')")


def _mysql_refusal(connection: Any, tables: frozenset[str] | set[str], kind: str) -> str | None:
    """MySQL/MariaDB: the privileges a deploy needs that the user holds neither globally, nor on this
    database, nor (where it holds table-level grants) on the table itself, nor through a role enabled
    in this session (a default role): information_schema lists only the user's own grants, so each
    enabled role's are read from SHOW GRANTS FOR it. A role whose grants cannot be read is not judged
    (None: the server says)."""
    needed = ["SELECT", "INSERT", "UPDATE", "DELETE"]
    if tables:
        needed += ["CREATE", "ALTER", "DROP", "INDEX", "REFERENCES"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CURRENT_USER(), DATABASE(), {_MY_GRANTEE}")
        _user, database, grantee = cursor.fetchone()
        through_roles = _role_privileges(cursor, str(database))
        if through_roles is None:
            return None
        role_held, role_tables = through_roles
        cursor.execute("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s"
                       " UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
                       " WHERE GRANTEE = %s AND DATABASE() LIKE TABLE_SCHEMA", [grantee, grantee])
        held = {str(row[0]).upper() for row in cursor.fetchall()} | role_held
        cursor.execute("SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES"
                       " WHERE GRANTEE = %s AND TABLE_SCHEMA = DATABASE()", [grantee])
        per_table: dict[str, set[str]] = {table: set(privileges) for table, privileges in role_tables.items()}
        for table, privilege in cursor.fetchall():
            per_table.setdefault(str(table), set()).add(str(privilege).upper())
    quote = connection.ops.quote_name
    if per_table:
        return _mysql_table_refusal(quote, grantee, database, held, per_table, tables, needed, kind)
    lacking = [p for p in needed if p not in held]
    if not lacking:
        return None
    return (f"Refused: user {grantee} lacks privileges this {kind} needs on database {database}:"
            f" {', '.join(lacking)}. Grant them (no SUPER needed): GRANT {', '.join(needed)} ON"
            f" {quote(database)}.* TO {grantee}.")


_MY_GRANT: Final = re.compile(r"^GRANT (?P<privileges>.+?) ON (?:(?:FUNCTION|PROCEDURE|PACKAGE(?: BODY)?) )?"
                              r"(?P<database>\*|`(?:[^`]|``)*`)\.(?P<table>\*|`(?:[^`]|``)*`) TO ")
_MY_ALL: Final = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX", "REFERENCES")


def _role_privileges(cursor: Any, database: str) -> tuple[set[str], dict[str, set[str]]] | None:
    """Privileges held through the roles enabled in this session: (on the database or globally, per table).

    Empty when no role is enabled; None when a role is enabled but its grants cannot be read.
    """
    try:
        cursor.execute("SELECT * FROM information_schema.ENABLED_ROLES")
        roles = [tuple(str(part) for part in row[:2] if part is not None) for row in cursor.fetchall()
                 if row[0] is not None]
    except Exception:  # a server without roles: nothing is held through one
        return set(), {}
    held: set[str] = set()
    per_table: dict[str, set[str]] = {}
    for role in roles:
        try:  # the account as bound string literals: 'role' (MariaDB) or 'role'@'host' (MySQL 8)
            cursor.execute("SHOW GRANTS FOR " + "@".join(["%s"] * len(role)), list(role))
            lines = [str(row[0]) for row in cursor.fetchall()]
        except Exception:
            return None
        for line in lines:
            match = _MY_GRANT.match(line)
            if match is None or not _grant_covers(match["database"], database):
                continue
            privileges = {_privilege(p) for p in _split_privileges(match["privileges"])}
            if "ALL PRIVILEGES" in privileges or "ALL" in privileges:
                privileges |= set(_MY_ALL)
            if match["table"] == "*":
                held |= privileges
            else:
                per_table.setdefault(_unquote(match["table"]), set()).update(privileges)
    return held, per_table


def _split_privileges(text: str) -> list[str]:
    """'SELECT, INSERT (a, b), ALTER' split at the commas outside a column list."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def _privilege(text: str) -> str:
    """One privilege, upper-cased; a column grant ('INSERT (`a`)') stays distinct: it is not the table's."""
    return text.strip().upper()


def _unquote(name: str) -> str:
    """A backtick-quoted name from SHOW GRANTS, unquoted."""
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _grant_covers(pattern: str, database: str) -> bool:
    """Whether a grant's database part (`*`, a name, or a LIKE pattern with % and _) covers `database`."""
    if pattern == "*":
        return True
    regex, escaped = "", False
    for char in _unquote(pattern):
        if escaped:
            regex += re.escape(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            regex += {"%": ".*", "_": "."}.get(char, re.escape(char))
    return re.fullmatch(regex, database, flags=re.IGNORECASE) is not None


def _mysql_table_refusal(quote: Any, grantee: str, database: str, held: set[str],
                         per_table: dict[str, set[str]], tables: frozenset[str] | set[str],
                         needed: list[str], kind: str) -> str | None:
    """The refusal for a user whose privileges are (partly) table-level grants: judged table by table.

    The history tables need reading and writing; every table the plan creates or alters needs what
    `needed` lists, on the table itself or on the whole database.
    """
    from django.apps import apps

    history = ["django_migrations",
               *(m._meta.db_table for m in apps.get_app_config("migration_pilot").get_models())]
    wants: dict[str, list[str]] = {table: ["SELECT", "INSERT", "UPDATE", "DELETE"] for table in history}
    for table in sorted(tables):
        wants[table] = needed
    problems, grants = [], []
    for table, privileges in wants.items():
        lacking = [p for p in privileges if p not in held and p not in per_table.get(table, set())]
        if lacking:
            problems.append(f"{', '.join(lacking)} on {table}")
            grants.append(f"GRANT {', '.join(lacking)} ON {quote(database)}.{quote(table)} TO {grantee}")
    if not problems:
        return None
    return (f"Refused: user {grantee} lacks privileges this {kind} needs on database {database}"
            f" (judged table by table: it holds table-level grants): {'; '.join(problems)}."
            f" Grant them (no SUPER needed): {'; '.join(grants)}.")


def reverse_drops(executor: Any, plan: Any) -> frozenset[str]:
    """The tables a backwards plan's reverses drop: each one its migration created (a CreateModel's
    table and its auto-created many-to-many tables), read from the migration states before and after.

    The plan's locks name the tables an operation alters; a reverse of CreateModel alters none, it
    drops one, and on PostgreSQL only the table's owner may.
    """
    max_length = int(executor.connection.ops.max_name_length() or 63)
    dropped: set[str] = set()
    for entry in plan.migrations:
        if not entry.backwards:
            continue
        key = (entry.app, entry.name)
        before = executor.loader.project_state(key, at_end=False)
        after = executor.loader.project_state(key, at_end=True)
        dropped |= _tables(after, max_length) - _tables(before, max_length)
    return frozenset(dropped)


def _tables(state: Any, max_length: int) -> set[str]:
    """The tables of a project state's managed, concrete models, with their auto-created M2M tables."""
    from django.db.backends.utils import truncate_name

    from migration_pilot.analysis.schema import table_of

    found: set[str] = set()
    for model in state.models.values():
        if model.options.get("proxy") or model.options.get("managed") is False:
            continue
        table = table_of(model, max_length)
        found.add(table)
        for name, field in model.fields.items():
            remote = getattr(field, "remote_field", None)
            if getattr(field, "many_to_many", False) and remote is not None and remote.through is None:
                found.add(str(field.db_table or truncate_name(f"{table}_{name}", max_length)))
    return found
