"""`Backfill`: a migration operation that fills columns in committed keyset batches.

    class Migration(migrations.Migration):
        atomic = False  # each batch commits on its own
        dependencies = [("shop", "0006_order_status_code"),
                        ("migration_pilot", "0004_backfill_checkpoint")]
        operations = [
            Backfill("order", set={"status_code": Upper("status")}, where=Q(status_code__isnull=True)),
        ]

Replaces the runbook's `for order in Order.objects.all(): order.save()` in one
transaction (writers blocked for the whole run) and the one-statement UPDATE
(every updated row locked until it ends). If the migration is killed, running
it again (or `pilot backfill shop 0007`) continues after the last committed
batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation, OperationCategory
from django.db.migrations.serializer import serializer_factory
from django.db.migrations.state import ProjectState
from django.db.models import Model, Q

from migration_pilot.backfill.engine import CHECKPOINT_TABLE, Tuning, run_backfill
from migration_pilot.backfill.events import BackfillFinished, Listener
from migration_pilot.backfill.work import PerRow, RowFunction, SetValues, Work, as_q
from migration_pilot.exceptions import BackfillDefinitionError

_DEFAULTS = Tuning()


class Backfill(Operation):
    """Set columns of every row (matching `where`) in batches that each commit with a checkpoint.

    Set-based: `set={"field": value or expression}` runs one UPDATE per keyset
    window. Per row: `function=callable(obj) -> None` with `fields=[...]` loads
    each window with the historical model's `.iterator()`, calls the function
    and saves `fields` with `bulk_update`. `reverse` (a dict for set-based, a
    callable for per-row) runs when the migration is unapplied; without it,
    unapplying only forgets the checkpoint, so applying again backfills again.
    """

    reduces_to_sql = False
    atomic = False  # batches commit one by one: never inside the migration's transaction
    reversible = True
    elidable = False
    category = OperationCategory.PYTHON

    def __init__(self, model_name: str, *, set: Mapping[str, Any] | None = None,
                 where: Q | Mapping[str, Any] | None = None, function: RowFunction | None = None,
                 fields: list[str] | tuple[str, ...] | None = None, reverse: Any = None,
                 name: str | None = None, batch_time: float = _DEFAULTS.batch_time,
                 batch_size: int | None = None, min_batch_size: int = _DEFAULTS.min_batch_size,
                 max_batch_size: int = _DEFAULTS.max_batch_size,
                 max_lag: float | None = _DEFAULTS.max_lag, lock_timeout: float = _DEFAULTS.lock_timeout,
                 sleep: float = _DEFAULTS.sleep, analyze: bool = True) -> None:
        where_q = as_q(where)
        if (set is None) == (function is None):
            raise BackfillDefinitionError("Backfill needs exactly one of set= and function=.",
                                          hint="Use set={'field': value} for one UPDATE per batch, or"
                                               " function=fill with fields=['field'] for per-row Python.")
        if set is not None:
            if not isinstance(set, Mapping) or not set or not all(isinstance(k, str) for k in set):
                raise BackfillDefinitionError(f"set={set!r} must be a non-empty dict of field names to values.",
                                              hint="For example set={'status_code': Upper('status')}.")
            if fields is not None:
                raise BackfillDefinitionError("fields= goes with function=, not with set=.",
                                              hint="The fields a set-based backfill writes are set's keys.")
            if reverse is not None and not (isinstance(reverse, Mapping) and reverse):
                raise BackfillDefinitionError("reverse= of a set-based Backfill must be a dict like set=.",
                                              hint="For example reverse={'status_code': None}.")
        else:
            if not callable(function):
                raise BackfillDefinitionError(f"function={function!r} is not callable.",
                                              hint="Pass a module-level function taking one model instance.")
            if not fields or isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
                raise BackfillDefinitionError("A per-row Backfill needs fields=[...], the fields it changes.",
                                              hint="They are saved with bulk_update after each window.")
            if reverse is not None and not callable(reverse):
                raise BackfillDefinitionError("reverse= of a per-row Backfill must be a function like function=.",
                                              hint="It gets each instance and changes the same fields.")
        if batch_time <= 0:
            raise BackfillDefinitionError(f"batch_time={batch_time!r} must be more than 0 seconds.",
                                          hint="0.1 (100 ms) suits a busy table.")
        self.model_name = model_name
        self.set = dict(set) if set is not None else None
        self.where = where
        self.where_q = where_q
        self.function = function
        self.fields = tuple(fields) if fields is not None else None
        self.reverse = dict(reverse) if isinstance(reverse, Mapping) else reverse
        self.name = name
        self.options = {"batch_time": batch_time, "batch_size": batch_size, "min_batch_size": min_batch_size,
                        "max_batch_size": max_batch_size,
                        "max_lag": max_lag, "lock_timeout": lock_timeout, "sleep": sleep, "analyze": analyze}

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    @property
    def changed_fields(self) -> tuple[str, ...]:
        return tuple(self.set) if self.set is not None else tuple(self.fields or ())

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        for key, value in (("set", self.set), ("where", self.where), ("function", self.function),
                           ("fields", list(self.fields) if self.fields is not None else None),
                           ("reverse", self.reverse), ("name", self.name)):
            if value is not None:
                kwargs[key] = value
        for key, value in self.options.items():
            if value != getattr(_DEFAULTS, key) and not (key == "analyze" and value is True):
                kwargs[key] = value
        return self.__class__.__name__, [self.model_name], kwargs

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """Data only: the project state does not change."""

    def describe(self) -> str:
        how = f" with {getattr(self.function, '__name__', 'a function')}()" if self.function else ""
        return f"Backfill {', '.join(self.changed_fields)} of {self.model_name} in committed batches{how}"

    @property
    def migration_name_fragment(self) -> str:
        return f"backfill_{self.model_name_lower}_{'_'.join(self.changed_fields)}"[:60]

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() == self.model_name_lower

    # -- identity and settings -----------------------------------------------------------------
    def checkpoint_name(self, app_label: str) -> str:
        """The checkpoint's name: `name=` or app.model.fields plus a digest of what is done."""
        if self.name:
            return self.name
        parts = [app_label, self.model_name_lower, self.set, self.where, self.function, self.fields]
        text = "|".join(serializer_factory(part).serialize()[0] for part in parts)
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return f"{app_label}.{self.model_name_lower}.{'+'.join(self.changed_fields)}"[:190] + f".{digest}"

    def tuning(self, **overrides: Any) -> Tuning:
        """The run's Tuning: this operation's settings, then non-None `overrides` (command-line flags)."""
        values = {**self.options, **{k: v for k, v in overrides.items() if v is not None}}
        return dataclasses.replace(_DEFAULTS, **values)

    def work(self, *, backwards: bool = False) -> Work:
        if self.set is not None:
            return SetValues(self.reverse if backwards else self.set, self.where_q)
        function = self.reverse if backwards else self.function
        assert callable(function) and self.fields is not None
        return PerRow(function, self.fields, self.where_q)

    def run(self, app_label: str, model: type[Model], *, using: str, tuning: Tuning | None = None,
            on_event: Listener | None = None, backwards: bool = False) -> BackfillFinished:
        """Run or resume this backfill (or its reverse) on `using` with the historical `model`."""
        name = self.checkpoint_name(app_label) + (".reverse" if backwards else "")
        return run_backfill(model, self.work(backwards=backwards), name=name, using=using,
                            tuning=tuning or self.tuning(), on_event=on_event,
                            description=self.describe() + (" (reverse)" if backwards else ""))

    # -- migrate ---------------------------------------------------------------------------------
    def database_forwards(self, app_label: str, schema_editor: BaseDatabaseSchemaEditor,
                          from_state: ProjectState, to_state: ProjectState) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if self.allow_migrate_model(alias, model):
            self.run(app_label, model, using=alias)

    def database_backwards(self, app_label: str, schema_editor: BaseDatabaseSchemaEditor,
                           from_state: ProjectState, to_state: ProjectState) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        connection = schema_editor.connection
        if not self.allow_migrate_model(connection.alias, model):
            return
        if self.reverse is not None:
            self.run(app_label, model, using=connection.alias, backwards=True)
        with connection.cursor() as cursor:
            if CHECKPOINT_TABLE not in connection.introspection.table_names(cursor):
                return
        from migration_pilot.models import BackfillCheckpoint

        name = self.checkpoint_name(app_label)
        # Applying the migration again must backfill again, so both checkpoints go.
        BackfillCheckpoint.objects.using(connection.alias).filter(name__in=[name, name + ".reverse"]).delete()
