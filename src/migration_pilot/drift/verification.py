"""`verify()`: the live schema against the migrations, plus history and models, as one result.

Order of work: load the graph with the verified connection (reads
django_migrations), get the reference catalog (cache, shadow database, or
the migration state when no database can be created; another alias with
--against), read the live catalog, diff, explain. Every query against the
verified database is a read.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from django.apps import apps
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.utils import Error as DatabaseError

from migration_pilot.drift import cache
from migration_pilot.drift.catalog import read_catalog, server_version
from migration_pilot.drift.compare import compare
from migration_pilot.drift.differences import INFO, Difference, VerifyResult
from migration_pilot.drift.errors import (
    CatalogReadError,
    IncompatibleAliasesError,
    ReferenceUnavailableError,
    SameAliasError,
)
from migration_pilot.drift.explain import explain, origins
from migration_pilot.drift.history import history_differences
from migration_pilot.drift.model import Catalog
from migration_pilot.drift.models_vs_migrations import model_differences
from migration_pilot.drift.sequences import sequence_differences
from migration_pilot.drift.shadow import Progress, ShadowUnavailable, applied_plan, build_shadow_catalog
from migration_pilot.drift.state import state_catalog, unmanaged_tables


def verify(alias: str = "default", *, against: str | None = None, use_cache: bool = True,
           strict_names: bool = False, progress: Progress | None = None,
           only_if_cached: bool = False) -> VerifyResult:
    """Compare the database of `alias` with what its applied migrations produce (or with `against`).

    `only_if_cached` skips the schema comparison when no cached reference exists
    instead of building a shadow database (history and models are still checked);
    deploy uses it for a database its own run built from empty.
    """
    from migration_pilot.pipeline.preflight import connect

    started = time.perf_counter()
    live = connect(alias)
    loader = _load(live)
    plan = applied_plan(loader)
    notes: list[str] = []
    try:
        history = history_differences(loader, live)
    except DatabaseError as exc:
        raise CatalogReadError(alias, _first_line(exc)) from exc
    models = model_differences(loader)
    cached, cache_path = False, None
    if against is not None:
        expected, reference = _other(alias, live, against, connect), f"alias:{against}"
    else:
        key = cache.cache_key(plan.migrations, server=server_version(live), extra=_server_extra(live))
        found = cache.load(key) if use_cache else None
        if found is not None:
            expected, reference, cached = found, "cache", True
            cache_path = str(cache.cache_dir() / f"{key}.json")
        elif only_if_cached:
            return VerifyResult(alias=alias, reference="skipped", cached=False, differences=(),
                                history=tuple(history), models=tuple(models),
                                notes=("No cached reference schema for these migrations; the schema"
                                       " comparison was skipped.",), vendor=live.vendor,
                                applied=len(plan.migrations), tables=0,
                                duration_s=time.perf_counter() - started, cache_path=None)
        else:
            try:
                expected = build_shadow_catalog(live, plan, progress=progress)
                reference = "shadow"
                stored = cache.store(key, expected)
                cache_path = str(stored) if stored else None
            except ShadowUnavailable as exc:
                expected, reference = _state_reference(plan, live), "state"
                notes.append(f"Could not create a shadow database ({exc}); compared against the schema rendered"
                             " from the migration state instead: tables, columns, nullability and declared"
                             " index/constraint names only. Grant CREATEDB (PostgreSQL) or CREATE on"
                             " `pilot_shadow_%` (MySQL) for the full comparison.")
    try:
        actual = read_catalog(live)
    except DatabaseError as exc:
        raise CatalogReadError(alias, _first_line(exc)) from exc
    skip = _skipped_tables(loader, reference)
    differences = compare(expected, actual, strict_names=strict_names, skip_tables=skip)
    if differences:
        vanished = [d.object for d in history if d.kind == "applied_migration_missing"]
        differences = explain(differences, expected=expected, actual=actual, vendor=live.vendor,
                              quote=live.ops.quote_name, origins=origins(loader, plan.migrations, vanished))
        differences = _kept_defaults_expected(alias, differences)
        if against is None:
            differences = _edited_files_named(alias, loader, differences)
    if against is None:  # sequences behind their table's data: the next INSERT would fail (G3)
        try:
            differences = [*differences, *sequence_differences(live, notes)]
        except DatabaseError as exc:
            raise CatalogReadError(alias, _first_line(exc)) from exc
    return VerifyResult(alias=alias, reference=reference, cached=cached, differences=tuple(differences),
                        history=tuple(history), models=tuple(models), notes=tuple(notes), vendor=live.vendor,
                        applied=len(plan.migrations), tables=len(actual.tables),
                        duration_s=time.perf_counter() - started, cache_path=cache_path)


def _kept_defaults_expected(alias: str, differences: list[Difference]) -> list[Difference]:
    """A default the online form kept for the running code is expected until `--phase post` drops it."""
    from migration_pilot.pipeline.history import kept_defaults

    kept = {(k.table, k.column): k for k in kept_defaults(alias)} if differences else {}
    if not kept:
        return differences
    out = []
    for d in differences:
        row = kept.get((d.table, d.object)) if d.kind == "column_default" and d.expected in {"", "(none)"} else None
        if row is None:
            out.append(d)
            continue
        out.append(dataclasses.replace(
            d, severity=INFO, cause=f"kept by pilot deploy #{row.run_id} ({row.migration}) for the code still"
            " running, which inserts without this column",
            fix="run 'pilot deploy --phase post' once the new release runs everywhere"))
    return out


def _edited_files_named(alias: str, loader: Any, differences: list[Difference]) -> list[Difference]:
    """Name the applied migration files that changed since they ran: the likeliest cause of schema drift."""
    from migration_pilot.loader import migration_path
    from migration_pilot.pipeline.edits import edited_migrations
    from migration_pilot.pipeline.history import readable

    if not differences or not readable(alias):
        return differences
    edited = edited_migrations(alias, loader)
    if not edited:
        return differences
    files = "; ".join(f"{migration_path(loader.graph.nodes[e.key]) or f'{e.key[0]}.{e.key[1]}'}"
                      f" ({e.describe()})" for e in edited[:3])
    note = (f" Likely cause: an applied migration was edited after it ran here: {files}. This database kept the"
            " old version; put the change in a new migration.")
    return [dataclasses.replace(d, cause=(d.cause + note).strip()) if d.severity != INFO else d for d in differences]


def prepare_reference(alias: str = "default", *, progress: Progress | None = None) -> tuple[str, bool]:
    """Build and cache the reference schema of every migration on disk; (cache path, was it cached already).

    The reference depends on the migrations, the vendor and the server version,
    never on the live data, so a build step can prepare it before the deploy and
    the deploy's verify stage then reads it from the cache instead of building a
    shadow database while the release waits.
    """
    from migration_pilot.pipeline.preflight import connect

    live = connect(alias)
    plan = applied_plan(_load(live), everything=True)
    key = cache.cache_key(plan.migrations, server=server_version(live), extra=_server_extra(live))
    if cache.load(key) is not None:
        return str(cache.cache_dir() / f"{key}.json"), True
    try:
        expected = build_shadow_catalog(live, plan, progress=progress)
    except ShadowUnavailable as exc:
        raise ReferenceUnavailableError(alias, str(exc)) from exc
    stored = cache.store(key, expected)
    return str(stored) if stored else "", False


def _load(connection: Any) -> MigrationLoader:
    """The graph with the applied set of `connection`; load errors become MigrationLoadError."""
    try:
        return MigrationLoader(connection, ignore_no_migrations=True)
    except DatabaseError as exc:
        raise CatalogReadError(connection.alias, _first_line(exc)) from exc
    except Exception:
        from migration_pilot.loader import load_graph

        load_graph()  # raises the same problem as a one-line MigrationLoadError
        raise


def _other(alias: str, live: Any, against: str, connect: Any) -> Catalog:
    if against == alias:
        raise SameAliasError(alias)
    from django.conf import settings

    from migration_pilot.exceptions import UnknownDatabaseError

    if against not in settings.DATABASES:
        raise UnknownDatabaseError(against, known=settings.DATABASES, flag="--against")
    other = connect(against)
    if other.vendor != live.vendor:
        raise IncompatibleAliasesError(alias, live.vendor, against, other.vendor)
    try:
        return read_catalog(other)
    except DatabaseError as exc:
        raise CatalogReadError(against, _first_line(exc)) from exc


def _state_reference(plan: Any, live: Any) -> Catalog:
    state = ProjectState(real_apps=plan.loader.unmigrated_apps)
    for migration in plan.migrations:
        state = migration.mutate_state(state, preserve=False)
    catalog = state_catalog(state, live)
    recorder_table = MigrationRecorder.Migration._meta.db_table
    from migration_pilot.drift.model import Column, Table

    tables = dict(catalog.tables)
    tables[recorder_table] = Table(recorder_table, {
        name: Column(name=name, type="", nullable=False) for name in ("id", "app", "name", "applied")})
    return Catalog(vendor=catalog.vendor, version="", tables=tables, precise=False)


def _skipped_tables(loader: MigrationLoader, reference: str) -> set[str]:
    """Tables migrations never create: managed = False models, apps without migrations, and this tool's own
    run history when migration_pilot is not in INSTALLED_APPS (it is the tool's, not drift to drop)."""
    skip = unmanaged_tables(apps.get_models(include_auto_created=True))
    if not apps.is_installed("migration_pilot"):
        # Its models cannot even be imported then; every one of its tables carries the prefix.
        skip |= {table for table in _live_tables(loader) if table.startswith("migration_pilot_")}
    for label in loader.unmigrated_apps:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        skip |= {m._meta.db_table for m in config.get_models(include_auto_created=True)}
    return skip


def _live_tables(loader: MigrationLoader) -> list[str]:
    connection = loader.connection
    if connection is None:
        return []
    with connection.cursor() as cursor:
        return list(connection.introspection.table_names(cursor))


def _server_extra(live: Any) -> list[str]:
    """What else decides the reference schema: the alias under routers, MySQL's charset and collation.

    With DATABASE_ROUTERS, allow_migrate may send an app to one alias only, so two
    aliases with the same applied migrations can still expect different tables (J1).
    """
    from django.conf import settings

    routed = [f"alias={live.alias}", *(f"router={r!s}" for r in settings.DATABASE_ROUTERS)] \
        if settings.DATABASE_ROUTERS else []
    if live.vendor != "mysql":
        return routed
    with live.cursor() as cursor:
        cursor.execute("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
                       " WHERE SCHEMA_NAME = DATABASE()")
        row = cursor.fetchone()
    return [*routed, f"charset={row[0]}", f"collation={row[1]}"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Difference", "VerifyResult", "prepare_reference", "verify"]
