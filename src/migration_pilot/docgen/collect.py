"""One walk of the graph collecting, per operation, its SQL both ways, locks and plain-word facts.

The walk follows `migrate` on an empty database: one ProjectState advanced in
place in plan order, as analysis/walk.py does, never rendered. Django's schema
editor needs model classes, so for each documented operation only the models
it reaches are rendered: the models it names, the models their relation
fields and bases point to (transitively, so the rendering is complete), and,
where Django's schema editor follows incoming foreign keys (a changed primary
key or unique field, a renamed model), the models pointing at it. The state
after the operation is that small state moved on by the operation itself.
Django's executor renders every model and re-renders every related model
after each operation, which on a project like wagtail costs several times
the whole lint; rendering a few models per operation does not. An operation
this module does not know (a custom class) gets the whole state rendered.

Django's schema editor, in collect-SQL mode on docgen/offline.py's backend,
then writes `database_forwards(before, after)` and `database_backwards(after,
before)`: what `sqlmigrate` and `sqlmigrate --backwards` print, one operation
at a time so one operation Django cannot write offline does not hide the SQL
of the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations as dj_migrations
from django.db.migrations.state import ProjectState

import migration_pilot.docgen.words as words
from migration_pilot.analysis.schema import related_model_key
from migration_pilot.analysis.walk import plan_order
from migration_pilot.backends import BackendProfile
from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.loader import LoadedGraph
from migration_pilot.plan.locks import LockImpact
from migration_pilot.plan.operation_locks import operation_locks
from migration_pilot.types import MigrationKey, ModelKey


@dataclass(slots=True)
class Sql:
    """Statements one direction of an operation produces, or why there are none to show."""

    statements: tuple[str, ...] = ()
    note: str | None = None
    """'Python code (…)', 'irreversible', 'needs the live database (…)': why `statements` is empty."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"statements": list(self.statements), "note": self.note}


@dataclass(slots=True)
class OperationFacts:
    """What one operation does, in SQL and in words."""

    index: int
    kind: str
    description: str
    reversible: bool
    locks: list[LockImpact]
    forward: Sql
    backward: Sql
    changes: list[str] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


OperationFactsByMigration = dict[MigrationKey, list[OperationFacts]]


def collect(loaded: LoadedGraph, wanted: Callable[[MigrationKey], bool], connection: Any,
            profile: BackendProfile, *, whole: bool = False) -> OperationFactsByMigration:
    """Facts for every operation of the migrations `wanted` accepts; `connection` None: no SQL.

    `whole`: render every model and move the rendered state on, as `migrate` does (slower; the
    tests check the per-operation subsets against it).
    """
    state = ProjectState(real_apps=set(loaded.loader.unmigrated_apps))
    found: OperationFactsByMigration = {}
    previous: ProjectState | None = None
    for key in plan_order(loaded):
        migration = loaded.graph.nodes[key]
        if not wanted(key):
            previous = None  # the state moves on without it
            for index, operation in enumerate(migration.operations):
                _forwards(operation, key, index, state)
            continue
        facts = []
        for index, operation in enumerate(migration.operations):
            fact, previous = _operation(connection, profile, key, index, operation, state, previous, whole)
            facts.append(fact)
        found[key] = facts
    return found


def _forwards(operation: Any, key: MigrationKey, index: int, state: ProjectState) -> None:
    try:
        operation.state_forwards(key[0], state)
    except Exception as exc:
        raise MigrationLoadError(
            f"Cannot follow operation {index} ({type(operation).__name__}) of {key[0]}.{key[1]}: {exc}.",
            hint="Django's migrate would fail here too; fix that migration.",
        ) from exc


def _operation(connection: Any, profile: BackendProfile, key: MigrationKey, index: int, operation: Any,
               state: ProjectState, previous: ProjectState | None,
               whole: bool = False) -> tuple[OperationFacts, ProjectState]:
    """The operation's facts, and the (rendered) subset after it, which the next operation may start from."""
    app_label = key[0]
    try:
        description = str(operation.describe())
    except Exception:  # a custom operation's describe() must not stop the docs
        description = type(operation).__name__
    reversible = bool(getattr(operation, "reversible", True))
    locks = operation_locks(operation, app_label, state, profile)
    before = previous if whole and previous is not None else _subset(
        state, None if whole else operation, app_label, previous)
    _forwards(operation, key, index, state)
    order = {model_key: position for position, model_key in enumerate(state.models)}
    if before.models and "apps" not in vars(before):
        # Rendered once; the state after is its clone moved on by the operation, which re-renders
        # only the models the operation changed (what migrate does), not the whole subset again.
        _settle(before, order)
    after = before.clone()
    _forwards(operation, key, index, after)
    if "apps" in vars(after):
        _settle(after, order)
    setattr(after, _FULL, getattr(before, _FULL, frozenset()) | {k for k in after.models if k not in before.models})
    facts = OperationFacts(index, type(operation).__name__, description, reversible, locks,
                           operation_sql(connection, operation, app_label, before, after, backwards=False),
                           operation_sql(connection, operation, app_label, before, after, backwards=True))
    said = words.describe(operation, app_label, before, after, connection, profile.vendor)
    facts.changes, facts.rollback, facts.checks, facts.gone = said.changes, said.rollback, said.checks, said.gone
    return facts, after


_FULL = "_migration_pilot_full_models"
"""Attribute on a subset state: the keys rendered whole (the others are stand-ins)."""
_STUB_OPTIONS = ("db_table", "managed", "proxy", "db_tablespace")


def _settle(state: ProjectState, order: dict[ModelKey, int]) -> None:
    """Register the rendered models in one fixed order (the walk state's, through tables last).

    Django re-renders related models in the iteration order of a set, which changes from one
    process to the next; the order of a model's related objects (which referring table SQLite
    rebuilds first) follows. Pages must not: the registry is put in order and its caches reset.
    """
    apps = state.apps
    last = len(order)
    for label, models in apps.all_models.items():
        ranked = sorted(models.items(), key=lambda item: (order.get((label, item[0]), last), item[0]))
        if list(models) != [name for name, _ in ranked]:
            models.clear()
            models.update(ranked)
    apps.clear_cache()


def _subset(state: ProjectState, operation: Any, app_label: str, previous: ProjectState | None) -> ProjectState:
    """A copy of `state` holding only the models `operation` reaches (all of them when unsure or None).

    The models the operation names (with their bases, explicit through models and, where Django
    follows them, the models pointing at them) are copied whole. A model they only point to is a
    stand-in: its table options and the fields a relation targets (its primary key, a to_field),
    which is all Django's schema editor reads of it (the column type and the constraint's target),
    so a foreign key to the user model does not render users, groups and permissions each time.

    When the operation just before (in plan order) left at least these models, whole where they
    must be whole, its rendered state after is this one's state before, as is: the models it holds
    besides are as current as the others, since nothing ran in between.
    """
    start = _reached(operation, app_label, state) if operation is not None else None
    full = _whole(state, start) if start is not None else None
    if full is None:
        whole = state.clone()
        setattr(whole, _FULL, frozenset(whole.models))
        return whole
    stubs = _stand_ins(state, full, _new_fields(operation, app_label), app_label)
    if stubs is None:
        whole = state.clone()
        setattr(whole, _FULL, frozenset(whole.models))
        return whole
    if (previous is not None and full and full <= getattr(previous, _FULL, frozenset())
            and stubs.keys() <= previous.models.keys()):
        return previous
    # In the state's own order (the order migrate creates models in): Django visits related
    # objects in registration order, e.g. which referring table SQLite rebuilds first.
    models = {k: state.models[k].clone() if k in full else _stub(state.models[k], stubs[k])
              for k in state.models if k in full or k in stubs}
    subset = ProjectState(models=models, real_apps=state.real_apps)
    setattr(subset, _FULL, frozenset(full))
    return subset


def _whole(state: ProjectState, start: set[ModelKey]) -> set[ModelKey] | None:
    """`start` plus bases and explicit through models, transitively; None when one is missing."""
    seen: set[ModelKey] = set()
    todo = sorted(start)
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        model = state.models.get(key)
        if model is None:
            if key[0] in state.real_apps:
                continue  # a real app renders itself
            return None
        seen.add(key)
        todo.extend(_base_keys(model))
        for fld in model.fields.values():
            through = getattr(getattr(fld, "remote_field", None), "through", None)
            if isinstance(through, str) and "." in through:
                app, name = through.split(".", 1)
                todo.append((app, name.lower()))
    return seen


def _base_keys(model: Any) -> list[ModelKey]:
    found = []
    for base in model.bases:
        if isinstance(base, str) and "." in base:
            app, name = base.split(".", 1)
            found.append((app, name.lower()))
    return found


def _new_fields(operation: Any, app_label: str) -> tuple[list[Any], set[ModelKey]]:
    """Fields the operation brings (their targets need stand-ins too) and the models it creates."""
    ops = dj_migrations
    if isinstance(operation, ops.CreateModel):
        return [fld for _name, fld in operation.fields], {(app_label, operation.name_lower)}
    if isinstance(operation, ops.AddField | ops.AlterField):
        return [operation.field], set()
    if isinstance(operation, ops.RunSQL | ops.SeparateDatabaseAndState):
        fields: list[Any] = []
        created: set[ModelKey] = set()
        for inner in [*getattr(operation, "database_operations", ()), *operation.state_operations]:
            more, made = _new_fields(inner, app_label)
            fields += more
            created |= made
        return fields, created
    return [], set()


def _stand_ins(state: ProjectState, full: set[ModelKey], new: tuple[list[Any], set[ModelKey]],
               app_label: str) -> dict[ModelKey, set[str]] | None:
    """Models the whole ones point to, each with the field names to keep; None when one is missing."""
    new_fields, created = new
    stubs: dict[ModelKey, set[str]] = {}
    todo: list[tuple[ModelKey, str | None]] = []
    sources = [(fld, key[0]) for key in sorted(full) for fld in state.models[key].fields.values()]
    sources += [(fld, app_label) for fld in new_fields]
    for fld, label in sources:
        target = related_model_key(fld, label)
        if target is not None:
            todo.extend((target, name) for name in _target_fields(fld))
    while todo:
        key, name = todo.pop()
        if key in full or key in created:
            continue
        model = state.models.get(key)
        if model is None:
            if key[0] in state.real_apps:
                continue
            return None
        kept = stubs.get(key)
        first = kept is None
        kept = stubs.setdefault(key, set())
        wanted = [n for n, f in model.fields.items() if getattr(f, "primary_key", False)]
        if name is not None and name in model.fields:
            wanted.append(name)
        for field_name in wanted:
            if field_name in kept:
                continue
            kept.add(field_name)
            fld = model.fields[field_name]
            target = related_model_key(fld, key[0])
            if target is not None:
                todo.extend((target, n) for n in _target_fields(fld))
        if first:
            todo.extend((base, None) for base in _base_keys(model))
    return stubs


def _target_fields(fld: Any) -> list[str | None]:
    remote = getattr(fld, "remote_field", None)
    names = [getattr(remote, "field_name", None)]
    names += [n for n in getattr(fld, "to_fields", ()) or () if n]
    return names


def _stub(model: Any, keep: set[str]) -> Any:
    """A stand-in for `model`: its table options, bases and the fields in `keep`."""
    from django.db.migrations.state import ModelState

    return ModelState(model.app_label, model.name, [(n, f.clone()) for n, f in model.fields.items() if n in keep],
                      options={k: v for k, v in model.options.items() if k in _STUB_OPTIONS},
                      bases=model.bases, managers=[])


def _field_targets(fld: Any, app_label: str) -> set[ModelKey]:
    found = set()
    target = related_model_key(fld, app_label)
    if target is not None:
        found.add(target)
    through = getattr(getattr(fld, "remote_field", None), "through", None)
    if isinstance(through, str) and "." in through:
        app, name = through.split(".", 1)
        found.add((app, name.lower()))
    return found


def _referrers(state: ProjectState, target: ModelKey) -> set[ModelKey]:
    """Models with a relation field pointing at `target` (whose schema Django may rewrite with it)."""
    return {key for key, model in state.models.items()
            if any(related_model_key(f, key[0]) == target for f in model.fields.values())}


def _referenced_field(state: ProjectState, key: ModelKey, name: str, new_field: Any = None) -> bool:
    model = state.models.get(key)
    old = model.fields.get(name) if model is not None else None
    return any(getattr(f, "primary_key", False) or getattr(f, "unique", False) for f in (old, new_field) if f)


def _reached(operation: Any, app_label: str, state: ProjectState) -> set[ModelKey] | None:
    """Models `operation` needs rendered, before closure; None: this module cannot tell."""
    ops = dj_migrations
    if isinstance(operation, ops.RunPython):
        return set()
    if isinstance(operation, ops.RunSQL | ops.SeparateDatabaseAndState):
        # The state operations move the state after on, so the models they name must be there too.
        inners = [*getattr(operation, "database_operations", ()), *operation.state_operations]
        found: set[ModelKey] = set()
        for inner in inners:
            reached = _reached(inner, app_label, state)
            if reached is None:
                return None
            found |= reached
        return found
    if isinstance(operation, ops.CreateModel):
        found = set()
        for _name, fld in operation.fields:
            found |= _field_targets(fld, app_label) - {related_model_key(fld, app_label)}
        for base in operation.bases:
            if isinstance(base, str) and "." in base:
                app, name = base.split(".", 1)
                found.add((app, name.lower()))
        return found
    if isinstance(operation, ops.RenameModel):
        key = (app_label, operation.old_name_lower)
        return {key} | _referrers(state, key)
    if isinstance(operation, ops.AddField | ops.RemoveField | ops.AlterField | ops.RenameField):
        key = (app_label, operation.model_name_lower)
        found = {key}
        new_field = getattr(operation, "field", None)
        if new_field is not None:  # an explicit through model is whole; the target gets a stand-in
            found |= _field_targets(new_field, app_label) - {related_model_key(new_field, app_label)}
        name = operation.old_name if isinstance(operation, ops.RenameField) else operation.name
        if isinstance(operation, ops.AlterField | ops.RenameField) and _referenced_field(state, key, name, new_field):
            found |= _referrers(state, key)
        return found
    if isinstance(operation, ops.AddIndex | ops.RemoveIndex | ops.RenameIndex | ops.AddConstraint
                  | ops.RemoveConstraint):
        return {(app_label, operation.model_name_lower)}
    if isinstance(operation, ops.DeleteModel | ops.AlterModelTable | ops.AlterUniqueTogether
                  | ops.AlterIndexTogether | ops.AlterModelOptions | ops.AlterModelManagers
                  | ops.AlterOrderWithRespectTo):
        return {(app_label, operation.name_lower)}
    return None


def operation_sql(connection: Any, operation: Any, app_label: str, before: ProjectState, after: ProjectState,
                  *, backwards: bool) -> Sql:
    """One direction of one operation in collect-SQL mode on `connection`, or why it has none."""
    if isinstance(operation, dj_migrations.RunPython):
        code = operation.reverse_code if backwards else operation.code
        if code is None:
            return Sql(note="irreversible: no reverse_code")
        return Sql(note=f"Python code ({words.callable_name(code)}), not SQL")
    if backwards and not bool(getattr(operation, "reversible", True)):
        return Sql(note="irreversible: Django cannot unapply this operation")
    if not getattr(operation, "reduces_to_sql", True):
        return Sql(note="not SQL: this operation cannot be written as SQL")
    if connection is None:
        return Sql(note="no SQL: this database's driver is not installed here")
    # Django's RenameModel/RenameIndex backwards swap their names, run forwards and swap back, with
    # no `finally`: an offline failure in between would leave the operation renamed for good.
    saved = dict(vars(operation))
    try:
        with connection.schema_editor(collect_sql=True, atomic=False) as editor:
            if backwards:
                operation.database_backwards(app_label, editor, after, before)
            else:
                operation.database_forwards(app_label, editor, before, after)
    except Exception as exc:  # the schema editor wanted the live database (a constraint name, say)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        vars(operation).clear()
        vars(operation).update(saved)
        return Sql(note=f"needs the live database: Django's schema editor failed offline"
                        f" ({type(exc).__name__}: {first[:200]}); run 'manage.py sqlmigrate' on a migrated database")
    statements = tuple(str(s) for s in editor.collected_sql)
    if not statements:
        return Sql(note="no SQL: Django changes only its own state here")
    return Sql(statements)
