"""The scratch database a rehearsal runs on: created beside the live one, always dropped afterwards.

PostgreSQL and MySQL/MariaDB: a new database on the live one's server, built by
applying migrations up to what the live database has applied (a template copy
is not possible while the live database has sessions), or restored from a
`pilot backup`. SQLite: a copy of the live file through the backup API.
A scratch target that resolves to the live database is refused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections
from django.db.utils import ConnectionHandler

from migration_pilot.rehearse.errors import RehearseError

SUFFIX = "_rehearse"


def default_name(live: Any) -> str:
    """`<live name>_rehearse` (the file beside it for SQLite)."""
    name = str(live.settings_dict.get("NAME") or "")
    if live.vendor == "sqlite":
        path = Path(name)
        return str(path.with_name(f"{path.stem}{SUFFIX}{path.suffix or '.sqlite3'}"))
    return f"{name[: 63 - len(SUFFIX)]}{SUFFIX}"


def refuse_live(live: Any, name: str) -> None:
    """RehearseError when `name` is the live database (same server and name, or the same SQLite file)."""
    settings = live.settings_dict
    if live.vendor == "sqlite":
        live_name = str(settings.get("NAME") or "")
        if live.is_in_memory_db():
            raise RehearseError(f"Database {live.alias!r} is in memory: there is nothing to copy.",
                                hint="Rehearse against a file or a server database.")
        same = os.path.realpath(name) == os.path.realpath(live_name) or (
            os.path.exists(name) and os.path.exists(live_name) and os.path.samefile(name, live_name))
    else:
        # The scratch database is always on the live one's server (same HOST and PORT): the name decides.
        same = name == str(settings.get("NAME") or "")
    if same:
        raise RehearseError(f"The scratch database {name!r} is the live database of {live.alias!r}:"
                            " a rehearsal never runs on it.", hint="Name another one with --scratch-name.")


@dataclass
class Scratch:
    """A scratch database this process created (and so may drop)."""

    vendor: str
    name: str
    settings: dict[str, Any]
    alias: str
    created: bool = False

    @property
    def connection(self) -> Any:
        """The Django connection registered for it."""
        return connections[self.alias]


def _exists(live: Any, name: str) -> bool:
    if live.vendor == "sqlite":
        return os.path.exists(name)
    from migration_pilot.backup import mysql, postgresql

    module = postgresql if live.vendor == "postgresql" else mysql
    return bool(module.database_exists(live, name))


def prepare(live: Any, name: str | None) -> Scratch:
    """Check the scratch name (not live, not existing) and return its description; nothing created yet."""
    if live.vendor not in {"sqlite", "postgresql", "mysql"}:
        raise RehearseError(f"Database {live.alias!r} is {live.vendor}: rehearse supports PostgreSQL,"
                            " MySQL/MariaDB and SQLite.", hint="Point --database at one of those.")
    name = name or default_name(live)
    if live.vendor == "sqlite":
        name = os.path.abspath(name)
    elif not name.replace("_", "a").isalnum() or len(name) > 63:
        raise RehearseError(f"Bad --scratch-name {name!r}: use letters, digits and '_' (at most 63).",
                            hint="Pass another --scratch-name.")
    refuse_live(live, name)
    if _exists(live, name):
        raise RehearseError(f"The scratch database {name!r} already exists (another rehearsal running,"
                            " or one kept with --keep).", hint="Drop it, or pass another --scratch-name.")
    settings = dict(live.settings_dict)
    settings["NAME"] = name
    settings.pop("TEST", None)
    return Scratch(live.vendor, name, settings, alias=f"pilot_rehearse_{uuid.uuid4().hex[:8]}")


def register(scratch: Scratch) -> Any:
    """Make `scratch.alias` a Django connection to the scratch database."""
    connections.settings[scratch.alias] = ConnectionHandler({"default": dict(scratch.settings)}).settings["default"]
    return connections[scratch.alias]


def create_empty(live: Any, scratch: Scratch) -> None:
    """CREATE DATABASE (PostgreSQL, MySQL) or copy the live file (SQLite); one-line error when refused."""
    try:
        if live.vendor == "sqlite":
            source = sqlite3.connect(f"file:{live.settings_dict['NAME']}?mode=ro", uri=True)
            target = sqlite3.connect(scratch.name)
            scratch.created = True
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            from migration_pilot.backup import mysql, postgresql

            module = postgresql if live.vendor == "postgresql" else mysql
            if live.vendor == "postgresql":
                with live.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE {live.ops.quote_name(scratch.name)}")
            else:
                module.create_database(live, scratch.name)
            scratch.created = True
    except (DatabaseError, sqlite3.Error, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RehearseError(f"Cannot create the scratch database {scratch.name!r}: {reason}.",
                            hint="Grant CREATE DATABASE (or write access to the directory) to the user of"
                                 f" {live.alias!r}, or pass --scratch-name.") from None


def drop(live: Any, scratch: Scratch) -> None:
    """Drop the scratch database (only one this process created) and unregister its alias."""
    if scratch.alias in connections.settings:
        with contextlib.suppress(Exception):
            connections[scratch.alias].close()
        with contextlib.suppress(Exception):
            del connections[scratch.alias]
        del connections.settings[scratch.alias]
    if not scratch.created:
        return
    refuse_live(live, scratch.name)
    if live.vendor == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(scratch.name + suffix)
    else:
        from migration_pilot.backup import mysql, postgresql

        (postgresql if live.vendor == "postgresql" else mysql).drop_database(live, scratch.name)
    scratch.created = False


@contextlib.contextmanager
def kept_or_dropped(live: Any, scratch: Scratch, *, keep: bool) -> Iterator[Scratch]:
    """Yield the scratch; drop it afterwards (also on errors and Ctrl-C) unless `keep`."""
    try:
        yield scratch
    finally:
        if not keep:
            drop(live, scratch)
        elif scratch.alias in connections.settings:
            with contextlib.suppress(Exception):
                connections[scratch.alias].close()


@contextlib.contextmanager
def routed(scratch: Scratch, aliases: list[str]) -> Iterator[None]:
    """Point `aliases` (the live one and 'default') at the scratch connection while the plan runs.

    A data migration that queries without `.using(schema_editor.connection.alias)` goes to the
    default alias: without this it would read (and write) the live database during a rehearsal.
    """
    saved = {}
    for alias in dict.fromkeys(aliases):
        if alias in connections.settings:
            saved[alias] = connections[alias]
            connections[alias] = connections[scratch.alias]
    try:
        yield
    finally:
        for alias, connection in saved.items():
            connections[alias] = connection
