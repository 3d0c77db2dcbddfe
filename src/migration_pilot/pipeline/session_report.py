"""What the server itself imposes on the deploy's session: its own timeouts, and superuser rights.

The banner states the tool's lock and statement timeouts, but the server may
add limits of its own (a role-level `ALTER ROLE ... SET statement_timeout`,
`idle_in_transaction_session_timeout`, PostgreSQL 17's `transaction_timeout`,
MariaDB's `max_statement_time`) that a person debugging a killed migration
needs to see (A6). The deploy sets its own lock and statement timeouts per
migration, overriding the role's; the others stay in force. A deploy run as a
superuser works, but needs far less (S9), so it is said once per run.
"""

from __future__ import annotations

from typing import Any, Final

# PostgreSQL settings that bound a session; transaction_timeout exists from PG 17 (missing_ok).
_PG_SETTINGS: Final = ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout",
                       "transaction_timeout")
_MARIADB_SETTINGS: Final = ("lock_wait_timeout", "max_statement_time", "idle_transaction_timeout")
_MYSQL_SETTINGS: Final = ("lock_wait_timeout", "max_execution_time")
_PG_NEEDS: Final = "ownership of the tables it alters and CREATE on the schema"
_MYSQL_NEEDS: Final = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX and REFERENCES on its database"


def server_timeouts(connection: Any) -> list[tuple[str, str]]:
    """(setting, value) for the session timeouts the server applies by default, as it reports them.

    Read before the deploy sets its own, so a role-level setting shows. SQLite has none (empty list).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, current_setting(name, true) FROM unnest(%s::text[]) AS name",
                           [list(_PG_SETTINGS)])
            values = dict(cursor.fetchall())
        return [(name, str(values[name])) for name in _PG_SETTINGS if values.get(name) is not None]
    if connection.vendor == "mysql":
        names = _MARIADB_SETTINGS if connection.mysql_is_mariadb else _MYSQL_SETTINGS
        found: list[tuple[str, str]] = []
        with connection.cursor() as cursor:
            for name in names:  # a variable this server version does not have returns no row
                cursor.execute("SHOW SESSION VARIABLES LIKE %s", [name])
                row = cursor.fetchone()
                if row is not None:
                    found.append((name, _mysql_value(name, row[1])))
        return found
    return []


def _mysql_value(name: str, value: Any) -> str:
    """A MySQL/MariaDB timeout with its unit (max_execution_time counts milliseconds, the rest seconds)."""
    number = float(value)
    text = f"{number:g}"
    return f"{text}ms" if name == "max_execution_time" else f"{text}s"


def describe_server_timeouts(settings: list[tuple[str, str]]) -> str | None:
    """The banner line naming the server's own timeouts; None when there are none to show."""
    if not settings:
        return None
    shown = ", ".join(f"{name} {value}" for name, value in settings)
    return (f"Server session settings: {shown} (the deploy sets its own lock and statement timeouts for each"
            " migration; the others stay in force).")


def superuser_warning(connection: Any) -> str | None:
    """A one-line warning when the deploy connects with superuser rights, else None.

    PostgreSQL: the role has SUPERUSER. MySQL/MariaDB: the user holds the global SUPER privilege.
    A failure to tell (a catalog the role may not read) is not a reason to warn.
    """
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
                row = cursor.fetchone()
                if row is None or not row[1]:
                    return None
                who, needs = f"role {row[0]!r} is a superuser", _PG_NEEDS
            elif connection.vendor == "mysql":
                cursor.execute("SELECT CURRENT_USER(), COUNT(*) FROM information_schema.USER_PRIVILEGES"
                               " WHERE PRIVILEGE_TYPE = 'SUPER' AND GRANTEE = CONCAT('''',"
                               " SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''',"
                               " SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')")
                user, count = cursor.fetchone()
                if not count:
                    return None
                who, needs = f"user {user} holds SUPER", _MYSQL_NEEDS
            else:
                return None
    except Exception:
        return None
    return (f"Warning: {who}: a mistake in a migration can then touch any database on the server. A deploy"
            f" needs only {needs}; run it as such a role.")
