"""Repair an app with two or more leaf migrations by moving each branch's migrations after the main line's.

Instead of a merge migration, the branch's own migrations get new numbers after the
main line's leaf, their files are renamed, the first of them depends on that leaf,
and every migration of any app that named one of them is retargeted. History stays
linear. Refused when a moved migration is applied in a database, or when both sides
touch the same model field (the order would change what the schema ends as).
With three or more leaves the branches go one after another (branch.choose_many
says in which order); a migration two branches share but the main line lacks is
refused, as it belongs to no one branch.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader

from migration_pilot.exceptions import MessageError
from migration_pilot.graphfix import source
from migration_pilot.graphfix.branch import BranchChoice, choose, choose_many, number
from migration_pilot.graphfix.databases import DatabaseState
from migration_pilot.graphfix.maxfile import max_file_path
from migration_pilot.loader import migration_path
from migration_pilot.types import MigrationKey

MODEL_WIDE = "*"


class RebaseRefusedError(MessageError, RuntimeError):
    """The branch's migrations cannot be moved: applied somewhere, or both sides touch one field."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's bytes before and after; `new_path` differs from `path` for a rename."""

    path: Path
    new_path: Path
    before: bytes
    after: bytes

    @property
    def renamed(self) -> bool:
        """Whether the file moves to a new name."""
        return self.path != self.new_path

    def diff(self) -> str:
        """A unified diff, with git's rename lines when the file is renamed."""
        header = f"rename from {self.path}\nrename to {self.new_path}\n" if self.renamed else ""
        body = difflib.unified_diff(
            self.before.decode("utf-8").splitlines(keepends=True),
            self.after.decode("utf-8").splitlines(keepends=True),
            fromfile=str(self.path), tofile=str(self.new_path))
        return header + "".join(body)


@dataclass(frozen=True, slots=True)
class Rebase:
    """Everything `fix-conflicts` will change for one app."""

    app: str
    choice: BranchChoice
    moves: tuple[tuple[MigrationKey, MigrationKey], ...]
    changes: tuple[FileChange, ...]
    unchecked: tuple[str, ...] = field(default=())

    @property
    def leaf(self) -> MigrationKey:
        """The app's one leaf afterwards."""
        return self.moves[-1][1] if self.moves else self.choice.main


def touched(operations: Iterable[Any], app: str) -> set[tuple[str, str]]:
    """(model, field) pairs the operations change; (model, '*') for whole-model changes."""
    found: set[tuple[str, str]] = set()
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            found |= touched([*operation.state_operations, *operation.database_operations], app)
        elif isinstance(operation, ops.RenameField):
            found.add((operation.model_name_lower, operation.old_name_lower))
            found.add((operation.model_name_lower, operation.new_name_lower))
        elif isinstance(operation, ops.AddField | ops.RemoveField | ops.AlterField):
            found.add((operation.model_name_lower, operation.name_lower))
        elif isinstance(operation, ops.RenameModel):
            found.add((operation.old_name_lower, MODEL_WIDE))
            found.add((operation.new_name_lower, MODEL_WIDE))
        elif isinstance(operation, ops.DeleteModel | ops.CreateModel):
            found.add((operation.name_lower, MODEL_WIDE))
    return found


def _clash(mine: set[tuple[str, str]], theirs: set[tuple[str, str]]) -> tuple[str, str] | None:
    for model, name in sorted(mine):
        if (model, name) in theirs or (model, MODEL_WIDE) in theirs:
            return model, name
        if name == MODEL_WIDE and any(m == model for m, _ in theirs):
            return model, name
    return None


def _file(loader: MigrationLoader, key: MigrationKey) -> Path:
    path = migration_path(loader.disk_migrations[key])
    if path is None:
        raise RebaseRefusedError(f"Migration {key[0]}.{key[1]} has no source file to rename.")
    return Path(path)


def _new_name(old: str, value: int) -> str:
    current = number(old)
    rest = old.split("_", 1)[1] if current is not None else old
    width = max(4, len(old.split("_", 1)[0]) if current is not None else 4)
    return f"{value:0{width}d}_{rest}"


def plan_rebase(loader: MigrationLoader, app: str, leaves: Sequence[str], *, base: str | None,
                databases: Sequence[DatabaseState]) -> Rebase:
    """The moves and file edits that put each branch's migrations after the main line's leaf, branch after branch."""
    if len(leaves) < 2:
        raise RebaseRefusedError(f"App {app} has one leaf migration; there is nothing to fix.")
    graph = loader.graph
    ancestors = {leaf: set(graph.forwards_plan((app, leaf))) for leaf in leaves}
    own = {leaf: [k for k in graph.forwards_plan((app, leaf))
                  if k[0] == app and not any(k in ancestors[other] for other in leaves if other != leaf)]
           for leaf in leaves}
    directory = _file(loader, (app, leaves[0])).parent
    sides = {leaf: [_file(loader, k) for k in own[leaf]] for leaf in leaves}
    if len(leaves) == 2:
        choice = choose(app, leaves, sides, directory=directory, base=base, max_file=max_file_path(directory))
        order = [choice.branch[1]]
    else:
        choice, order = choose_many(app, leaves, sides, directory=directory, base=base)
    main = choice.main[1]
    shared = sorted({k for leaf in order for k in ancestors[leaf]
                     if k[0] == app and k not in ancestors[main] and not any(k in own[b] for b in order)})
    if shared:
        holders = [leaf for leaf in order if shared[0] in ancestors[leaf]]
        raise RebaseRefusedError(
            f"Cannot rebase {app}: {shared[0][1]} is on the branches of {' and '.join(holders)} but not on the main"
            f" line ({main}), so it belongs to no one branch. Fix those branches first ('pilot fix-conflicts"
            f" {app}' on a checkout with only one of them, or 'pilot fix-conflicts {app} --merge').")
    moved = [k for leaf in order for k in own[leaf]]
    main_only = own[main]
    branch_of = {k: leaf for leaf in order for k in own[leaf]}

    for state in databases:
        if state.applied is None:
            continue
        applied = [k for k in moved if k in state.applied]
        if applied:
            first = own[branch_of[applied[0]]][0]
            forks = sorted(p.key[1] for p in graph.node_map[first].parents if p.key[0] == app and p.key not in moved)
            fork = forks[-1] if forks else "zero"
            names = ", ".join(f"{a}.{n}" for a, n in applied)
            raise RebaseRefusedError(
                f"Cannot move {names}: applied in database {state.label}. Unapply it there from a checkout"
                f" of the branch without the merge ('manage.py migrate {app} {fork}'), or run"
                f" 'pilot fix-conflicts {app} --merge' to keep it where it is.")
    fields = {k: touched(loader.disk_migrations[k].operations, app) for k in [*main_only, *moved]}
    for position, leaf in enumerate(order):
        earlier = [(k, "main line") for k in main_only] + [(k, "a branch moved before it") for b in order[:position]
                                                          for k in own[b]]
        for bkey in own[leaf]:
            for mkey, side in earlier:
                clash = _clash(fields[bkey], fields[mkey])
                if clash is not None:
                    what = f"model {clash[0]}" if clash[1] == MODEL_WIDE else f"field {clash[0]}.{clash[1]}"
                    raise RebaseRefusedError(
                        f"Cannot rebase {app}: {bkey[1]} (branch) and {mkey[1]} ({side}) both change {what},"
                        f" so their order decides the schema. Resolve it by hand, or run 'pilot fix-conflicts"
                        f" {app} --merge' and check the result.")

    start = max((number(n) or 0) for a, n in loader.disk_migrations if a == app and (a, n) not in moved)
    renames: dict[MigrationKey, MigrationKey] = {}
    taken = {n for a, n in loader.disk_migrations if a == app and (a, n) not in moved}
    for offset, key in enumerate(moved, 1):
        new = (app, _new_name(key[1], start + offset))
        if new[1] in taken:
            raise RebaseRefusedError(f"Cannot rename {app}.{key[1]} to {new[1]}: a migration of that name exists.")
        renames[key] = new

    changes: list[FileChange] = []
    moved_set = set(moved)
    old_names = [n.encode() for _, n in renames]
    for key, migration in sorted(loader.disk_migrations.items()):
        path_text = migration_path(migration)
        if path_text is None:
            continue
        path = Path(path_text)
        data = path.read_bytes()
        mapping = dict(renames)
        if key in moved_set and not any(dep in moved_set for dep in migration.dependencies):
            position = order.index(branch_of[key])  # after the main line, or after the branch moved before it
            after_leaf = choice.main if position == 0 else renames[own[order[position - 1]][-1]]
            mapping.update(_root_mapping(path, data, app, moved_set, after_leaf))
        elif key not in moved_set and not any(name in data for name in old_names):
            continue
        after = source.retarget(path, data, mapping)
        new_path = path.with_name(renames[key][1] + ".py") if key in renames else path
        if after != data or new_path != path:
            changes.append(FileChange(path, new_path, data, after))
    max_path = max_file_path(directory)
    if max_path.exists():
        leaf = renames[moved[-1]][1] if moved else choice.main[1]
        wanted = f"{leaf}\n".encode()
        current = max_path.read_bytes()
        if current != wanted:
            changes.append(FileChange(max_path, max_path, current, wanted))
    return Rebase(app, choice, tuple((k, renames[k]) for k in moved), tuple(changes))


def _root_mapping(path: Path, data: bytes, app: str, moved: set[MigrationKey],
                  main_leaf: MigrationKey) -> dict[MigrationKey, MigrationKey]:
    """Point the branch's first migration's dependency on its app at the main line's leaf."""
    for literal in source.literals(path, data):
        if literal.attribute == "dependencies" and literal.key[0] == app and literal.key not in moved:
            return {literal.key: main_leaf}
    raise source.MigrationSourceError(
        path, f"it has no literal dependency on a migration of {app} to point at {main_leaf[1]}")


def apply(rebase: Rebase) -> None:
    """Write the changes: renamed files first (atomically), then edits in place, then remove the old names."""
    for change in rebase.changes:
        if change.renamed and change.new_path.exists():
            raise RebaseRefusedError(f"Cannot rename {change.path.name}: {change.new_path} exists already.")
    for change in rebase.changes:
        if change.renamed:
            source.atomic_write(change.new_path, change.after, mode=change.path.stat().st_mode & 0o777)
    for change in rebase.changes:
        if not change.renamed:
            source.atomic_write(change.path, change.after)
    for change in rebase.changes:
        if change.renamed:
            change.path.unlink()


def merge(app_labels: Sequence[str], *, dry_run: bool) -> str:
    """Django's own merge migration (`makemigrations --merge`); returns its output."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("makemigrations", *app_labels, merge=True, interactive=False, dry_run=dry_run,
                     stdout=out, stderr=out, verbosity=1)
    except CommandError as exc:
        raise RebaseRefusedError(f"makemigrations --merge refused: {exc}") from None
    return out.getvalue()
