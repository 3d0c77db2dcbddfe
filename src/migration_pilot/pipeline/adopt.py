"""`adopt`: record migrations as applied without running them, only when the live schema already matches.

Django's `migrate --fake` records anything, and `--fake-initial` only checks that
the table names exist (catalogue D10). Here the reference is verify's own: the
applied migrations plus the adopted ones built in a shadow database, compared
catalog to catalog with the live database. Any difference on a table those
migrations leave behind refuses the adoption and nothing is recorded; tables
they do not describe are verify's business, not a reason to refuse (else two
legacy apps could never be adopted one after the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from migration_pilot.drift.catalog import read_catalog
from migration_pilot.drift.compare import compare
from migration_pilot.drift.differences import INFO, Difference
from migration_pilot.drift.errors import ReferenceUnavailableError
from migration_pilot.drift.shadow import ShadowPlan, ShadowUnavailable, build_shadow_catalog
from migration_pilot.exceptions import MessageError


@dataclass(frozen=True, slots=True)
class AdoptResult:
    """What `adopt` decided: the migrations it concerned, and the differences that refused them (if any)."""

    alias: str
    migrations: tuple[tuple[str, str], ...]
    differences: tuple[Difference, ...]
    recorded: bool
    run_id: int | None = None


def adopt(alias: str, app: str, migration: str | None = None, *, dry_run: bool = False) -> AdoptResult:
    """Compare, then record `app` up to `migration` (default: its latest) as applied when nothing differs."""
    from migration_pilot.pipeline.preflight import connect

    live = connect(alias)
    loader = MigrationLoader(live, ignore_no_migrations=True)
    target = _target(loader, app, migration)
    applied = set(loader.applied_migrations or {})
    wanted = [key for key in loader.graph.forwards_plan(target) if key not in applied]
    if not wanted:
        return AdoptResult(alias, (), (), recorded=False)
    keep = applied | set(wanted)
    ordered = _ordered(loader, keep)
    try:
        expected = build_shadow_catalog(live, ShadowPlan(loader, tuple(ordered)))
    except ShadowUnavailable as exc:
        raise ReferenceUnavailableError(alias, str(exc)) from exc
    actual = read_catalog(live)
    skip = {MigrationRecorder.Migration._meta.db_table}
    differences = tuple(d for d in compare(expected, actual, skip_tables=skip)
                        if d.severity != INFO and d.kind != "extra_table")
    if differences or dry_run:
        return AdoptResult(alias, tuple(wanted), differences, recorded=False)
    return AdoptResult(alias, tuple(wanted), (), recorded=True, run_id=_record(live, loader, wanted))


def _target(loader: MigrationLoader, app: str, migration: str | None) -> tuple[str, str]:
    """The graph node to adopt up to; one-line errors for an unknown app or migration."""
    if app not in loader.migrated_apps:
        raise MessageError(f"App {app!r} has no migrations (or is not installed); nothing to adopt.")
    if migration is None:
        leaves = loader.graph.leaf_nodes(app)
        if len(leaves) != 1:
            raise MessageError(f"App {app!r} has {len(leaves)} latest migrations; name the one to adopt.")
        return (str(leaves[0][0]), str(leaves[0][1]))
    try:
        found = loader.get_migration_by_prefix(app, migration)
    except KeyError:
        raise MessageError(f"App {app!r} has no migration named {migration!r}.") from None
    except Exception as exc:  # AmbiguityError
        raise MessageError(f"{exc}.".replace("..", ".")) from None
    return (found.app_label, found.name)


def _ordered(loader: MigrationLoader, keep: set[tuple[str, str]]) -> list[Any]:
    """Migrations in `keep`, in an order that respects dependencies (as verify's applied_plan)."""
    ordered: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                if key in keep:
                    ordered.append(loader.graph.nodes[key])
    return ordered


def _record(live: Any, loader: MigrationLoader, wanted: list[tuple[str, str]]) -> int | None:
    """django_migrations rows and, when the history tables exist, a run of kind 'adopt'; one transaction."""
    from migration_pilot.pipeline import history
    from migration_pilot.pipeline.edits import file_digest

    recorder = MigrationRecorder(live)
    with transaction.atomic(using=live.alias):
        recorder.ensure_schema()
        for app, name in wanted:
            recorder.record_applied(app, name)
        if not history.readable(live.alias):
            return None
        from migration_pilot.models import DeployRun, MigrationRun

        run = history.start_run(live.alias, DeployRun.Kind.ADOPT, wanted, {"adopt": True})
        now = timezone.now()
        for app, name in wanted:
            MigrationRun.objects.using(live.alias).create(
                run=run, app=app, name=name, started_at=now, finished_at=now, duration_s=0.0,
                outcome="adopted", file_sha256=file_digest(loader.graph.nodes[(app, name)]))
        history.finish_run(run, "succeeded")
        return int(run.pk)
