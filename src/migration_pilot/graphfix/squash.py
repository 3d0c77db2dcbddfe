"""Squash with the checks the runbook leaves to memory, and the later step that finishes it.

`check_range` says whether every database is past the range, which RunPython/RunSQL
operations the squash keeps, and refuses a range another app's migration sits inside
(the squashed migration would depend on itself). `squash` then runs Django's own
`squashmigrations`. `plan_finish` is Django's documented manual step once every
database has the squashed migration: delete the replaced files, drop `replaces`,
and point dependencies at the squashed migration.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader

from migration_pilot.exceptions import MessageError
from migration_pilot.graphfix import source
from migration_pilot.graphfix.conflicts import FileChange
from migration_pilot.graphfix.databases import DatabaseState
from migration_pilot.loader import migration_path
from migration_pilot.types import MigrationKey


class SquashInputError(MessageError, ValueError):
    """A squash names a migration that does not exist, or a range that cannot be squashed."""


class SquashRefusedError(MessageError, RuntimeError):
    """A database is not past the range (squash) or has not applied the squashed migration (finish)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class KeptOperation:
    """A RunPython or RunSQL in the range: the optimiser cannot remove it unless it is elidable."""

    key: MigrationKey
    index: int
    kind: str
    what: str
    elidable: bool


@dataclass(frozen=True, slots=True)
class DatabaseVerdict:
    """Where one database stands relative to a range or a squashed migration."""

    label: str
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class SquashCheck:
    """The range Django will squash and what stands in its way."""

    app: str
    keys: tuple[MigrationKey, ...]
    kept: tuple[KeptOperation, ...]
    verdicts: tuple[DatabaseVerdict, ...]
    directory: Path
    safe_end: MigrationKey | None = None
    """The latest migration of the app that every database holding any of its migrations has applied."""

    @property
    def safe(self) -> bool:
        """Every checked database is past the range (or has none of it)."""
        return all(v.ok for v in self.verdicts)


def resolve(loader: MigrationLoader, app: str, name: str) -> MigrationKey:
    """A migration of `app` by name or unique prefix; one-line error otherwise."""
    try:
        migration = loader.get_migration_by_prefix(app, name)
    except Exception:  # KeyError (none) or AmbiguityError (several)
        candidates = sorted(n for a, n in loader.disk_migrations if a == app and n.startswith(name))
        why = f"it matches {', '.join(candidates)}" if candidates else "no migration of that name exists"
        raise SquashInputError(f"Cannot find migration {app}.{name}: {why}. Use a full name or a unique"
                               " prefix, e.g. 0004.") from None
    return (migration.app_label, migration.name)


def squash_range(loader: MigrationLoader, app: str, start: MigrationKey | None,
                 end: MigrationKey) -> tuple[MigrationKey, ...]:
    """The migrations `squashmigrations` takes: END's ancestors in its app, from START."""
    keys = [k for k in loader.graph.forwards_plan(end) if k[0] == app]
    if start is not None:
        if start not in keys:
            raise SquashInputError(f"{app}.{start[1]} is not an ancestor of {app}.{end[1]}; pick a START"
                                   " that comes before END.")
        keys = keys[keys.index(start):]
    return tuple(keys)


def _crossing(loader: MigrationLoader, keys: Sequence[MigrationKey]) -> str | None:
    members = set(keys)
    for position, key in enumerate(keys):
        for parent in sorted(p.key for p in loader.graph.node_map[key].parents):
            if parent[0] == key[0]:
                continue
            inside = [k for k in loader.graph.forwards_plan(parent) if k in members]
            if inside:
                before = keys[position - 1][1] if position > 0 else None
                split = (f"Squash up to {before} instead, or start after {inside[-1][1]}" if before
                         else f"Start after {inside[-1][1]}")
                return (f"Cannot squash {key[0]} {keys[0][1]}..{keys[-1][1]}: {key[1]} depends on"
                        f" {parent[0]}.{parent[1]}, which depends on {key[0]}.{inside[-1][1]} inside the range;"
                        f" the squashed migration would depend on itself. {split}.")
    return None


def kept_operations(loader: MigrationLoader, keys: Sequence[MigrationKey]) -> tuple[KeptOperation, ...]:
    """RunPython and RunSQL operations of the range, with whether each is elidable."""
    kept: list[KeptOperation] = []
    for key in keys:
        for index, operation in enumerate(_flatten(loader.disk_migrations[key].operations)):
            if isinstance(operation, ops.RunPython):
                code = operation.code
                what = getattr(code, "__qualname__", None) or repr(code)
                kept.append(KeptOperation(key, index, "RunPython", what, bool(operation.elidable)))
            elif isinstance(operation, ops.RunSQL):
                sql = operation.sql if isinstance(operation.sql, str) else "; ".join(map(str, operation.sql))
                what = " ".join(sql.split())
                kept.append(KeptOperation(key, index, "RunSQL", what[:60] + ("..." if len(what) > 60 else ""),
                                          bool(operation.elidable)))
    return tuple(kept)


def _flatten(operations: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            flat.extend(_flatten(operation.database_operations))
        else:
            flat.append(operation)
    return flat


def check_range(loader: MigrationLoader, app: str, start: str | None, end: str,
                databases: Sequence[DatabaseState]) -> SquashCheck:
    """The range, its kept operations, and each database's verdict; refuses a crossing range."""
    end_key = resolve(loader, app, end)
    start_key = resolve(loader, app, start) if start is not None else None
    keys = squash_range(loader, app, start_key, end_key)
    if len(keys) < 2:
        raise SquashInputError(f"The range {app} {keys[0][1]}..{end_key[1]} holds one migration; nothing to"
                               " squash. Pick an earlier START or a later END.")
    squashed = [k[1] for k in keys if loader.disk_migrations[k].replaces]
    if squashed:
        raise SquashInputError(f"The range includes {app}.{squashed[0]}, which is itself a squashed migration; finish"
                               f" it first ('pilot squash {app} --finish' once every database has applied it).")
    crossing = _crossing(loader, keys)
    if crossing is not None:
        raise SquashInputError(crossing)
    verdicts = []
    for state in databases:
        if state.applied is None:
            continue
        applied = [k for k in keys if k in state.applied]
        if len(applied) == len(keys):
            verdicts.append(DatabaseVerdict(state.label, True, f"past {end_key[1]}"))
        elif not applied:
            behind = any(k[0] == app for k in state.applied)
            reason = (f"has applied none of {keys[0][1]}..{end_key[1]}" if behind else
                      f"has applied none of {app}'s migrations (it will apply the squashed one)")
            verdicts.append(DatabaseVerdict(state.label, not behind, reason))
        else:
            verdicts.append(DatabaseVerdict(
                state.label, False,
                f"is inside the range: applied {len(applied)} of {len(keys)}, up to {applied[-1][1]}"))
    return SquashCheck(app, keys, kept_operations(loader, keys), tuple(verdicts),
                       _path(loader.disk_migrations[end_key]).parent, _safe_end(loader, app, databases))


def _safe_end(loader: MigrationLoader, app: str, databases: Sequence[DatabaseState]) -> MigrationKey | None:
    """The last migration, in the app's order, before the first one some non-fresh database lacks."""
    used = [s.applied for s in databases if s.applied is not None and any(k[0] == app for k in s.applied)]
    if not used:
        return None
    leaves = sorted(loader.graph.leaf_nodes(app))
    order = [k for k in loader.graph.forwards_plan(leaves[0]) if k[0] == app] if leaves else []
    last = None
    for key in order:
        if not all(key in applied for applied in used):
            break
        last = key
    return last


def squash(app: str, start: str | None, end: str, *, squashed_name: str | None, no_optimize: bool) -> str:
    """Run Django's squashmigrations (never interactive); returns what it printed."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    names = [start, end] if start is not None else [end]
    try:
        call_command("squashmigrations", app, *names, interactive=False, squashed_name=squashed_name,
                     no_optimize=no_optimize, stdout=out, stderr=out, verbosity=1)
    except CommandError as exc:
        raise SquashInputError(f"squashmigrations refused: {exc}") from None
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Finish:
    """What `squash --finish` changes: files edited, and replaced files deleted."""

    squashed: MigrationKey
    replaced: tuple[MigrationKey, ...]
    changes: tuple[FileChange, ...]
    deletions: tuple[Path, ...]
    verdicts: tuple[DatabaseVerdict, ...]


def squashed_migrations(loader: MigrationLoader, app: str) -> list[MigrationKey]:
    """The app's migrations on disk that still have `replaces`."""
    return sorted(k for k, m in loader.disk_migrations.items() if k[0] == app and m.replaces)


def plan_finish(loader: MigrationLoader, app: str, name: str | None,
                databases: Sequence[DatabaseState]) -> Finish:
    """The edits and deletions that finish a squash; refuses while a database has not applied it."""
    candidates = squashed_migrations(loader, app)
    if name is not None:
        key = resolve(loader, app, name)
        if key not in candidates:
            raise SquashInputError(f"{app}.{key[1]} has no replaces attribute: it is not a squashed migration"
                                   " waiting to be finished.")
    elif not candidates:
        raise SquashInputError(f"App {app} has no squashed migration to finish (none has a replaces attribute).")
    elif len(candidates) > 1:
        raise SquashInputError(f"App {app} has {len(candidates)} squashed migrations"
                               f" ({', '.join(n for _, n in candidates)}); name the one to finish.")
    else:
        key = candidates[0]
    migration = loader.disk_migrations[key]
    replaced = tuple((a, n) for a, n in migration.replaces)
    verdicts = []
    for state in databases:
        if state.applied is None:
            continue
        done = [k for k in replaced if k in state.applied]
        if key in state.applied:
            verdicts.append(DatabaseVerdict(state.label, True, f"has applied {key[1]}"))
        elif not done:
            verdicts.append(DatabaseVerdict(state.label, True, f"has applied none of the replaced migrations"
                                            f" (it will apply {key[1]})"))
        elif len(done) < len(replaced):
            verdicts.append(DatabaseVerdict(state.label, False,
                                            f"is inside the range: applied {len(done)} of {len(replaced)}"
                                            f" replaced migrations, up to {done[-1][1]}"))
        else:
            verdicts.append(DatabaseVerdict(state.label, False, f"has applied every replaced migration but {key[1]}"
                                            " is not recorded; run migrate there first (Django records it)"))
    blocked = [v for v in verdicts if not v.ok]
    if blocked:
        raise SquashRefusedError(f"Cannot finish {app}.{key[1]}: database {blocked[0].label} {blocked[0].reason}."
                                 " Deploy there first, then run 'pilot squash --finish' again.")
    squashed_path = _path(migration)
    module_root = type(migration).__module__.rsplit(".", 1)[0]
    squashed_data = squashed_path.read_bytes()
    for old in replaced:
        if source.imports_module(squashed_path, squashed_data, f"{module_root}.{old[1]}"):
            raise SquashRefusedError(
                f"Cannot finish {app}.{key[1]}: it still imports code from {old[1]}, which would be deleted."
                " Copy those functions into the squashed migration first (Django's 'Manual porting required').")
    mapping = {old: key for old in replaced}
    changes = [FileChange(squashed_path, squashed_path, squashed_data,
                          source.retarget(squashed_path, source.remove_replaces(squashed_path, squashed_data),
                                          mapping))]
    names = [n.encode() for _, n in replaced]
    for other_key, other in sorted(loader.disk_migrations.items()):
        if other_key == key or other_key in mapping:
            continue
        text_path = migration_path(other)
        if text_path is None:
            continue
        path = Path(text_path)
        data = path.read_bytes()
        if not any(n in data for n in names):
            continue
        after = source.retarget(path, data, mapping)
        if after != data:
            changes.append(FileChange(path, path, data, after))
    deletions = tuple(_path(loader.disk_migrations[k]) for k in replaced if k in loader.disk_migrations)
    return Finish(key, replaced, tuple(changes), deletions, tuple(verdicts))


def _path(migration: Any) -> Path:
    path = migration_path(migration)
    if path is None:
        raise SquashInputError(f"Migration {migration.app_label}.{migration.name} has no source file.")
    return Path(path)


def apply_finish(finish: Finish) -> None:
    """Edit the files in place (atomically), then delete the replaced migrations."""
    for change in finish.changes:
        source.atomic_write(change.path, change.after)
    for path in finish.deletions:
        path.unlink()
