"""What a check sees: the operation, the state it meets, the target database.

Helpers that several rules need live here, so rule bodies stay short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import Field

from migration_pilot.analysis.schema import column_of, find_model, table_of, tables_by_name
from migration_pilot.analysis.walk import MigrationVisit, OperationVisit
from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.plan.locks import LockImpact


@dataclass(frozen=True, slots=True)
class Scope:
    """Tables that block nobody: created earlier in the plan, or known to be small.

    Lint alone knows only tables created earlier in the same migration; deploy
    adds the tables its plan creates and those the live catalog says are small.
    """

    new_tables: frozenset[str] = frozenset()
    small_tables: frozenset[str] = frozenset()


@dataclass(slots=True)
class OperationSummary:
    """What the migration-level rules need to know about each operation."""

    index: int
    kind_name: str
    schema: bool
    data: bool


class OperationContext:
    """One operation with the state before it, for operation checks."""

    def __init__(self, visit: OperationVisit, profile: BackendProfile, scope: Scope,
                 *, settings_vendor: str | None = None) -> None:
        self.visit = visit
        self.profile = profile
        self.scope = scope
        # The vendor of the database in the settings, when --vendor chose another one.
        self.settings_vendor = settings_vendor

    @property
    def migration(self) -> MigrationVisit:
        """The migration being walked."""
        return self.visit.migration

    @property
    def app_label(self) -> str:
        """App label of the migration."""
        return self.visit.migration.app_label

    @property
    def state(self) -> ProjectState:
        """Project state before this operation."""
        return self.visit.state

    @property
    def vendor(self) -> str:
        """Target database vendor."""
        return self.profile.vendor

    @property
    def atomic(self) -> bool:
        """Whether the migration runs in one transaction on this database."""
        return self.migration.atomic and self.profile.transactional_ddl

    def model(self, model_name: str) -> ModelState | None:
        """Model state before the operation."""
        return find_model(self.state, self.app_label, model_name)

    def table(self, model_name: str) -> str:
        """Table of `model_name` in this app (Django's default name when unknown)."""
        model = self.model(model_name)
        if model is None:
            return f"{self.app_label}_{model_name.lower()}"
        return table_of(model, self.profile.max_name_length())

    def field(self, model_name: str, field_name: str) -> Field | None:
        """The field as it is before the operation."""
        model = self.model(model_name)
        if model is None:
            return None
        return model.fields.get(field_name) or model.fields.get(field_name.lower())

    def has_table(self, model_name: str) -> bool:
        """Whether Django runs DDL for `model_name`: False for proxy, unmanaged and unknown models."""
        model = self.model(model_name)
        if model is None:
            return False
        return bool(model.options.get("managed", True)) and not model.options.get("proxy", False)

    def column(self, field_name: str, field: Field) -> str | None:
        """Column name of `field` (None for many-to-many)."""
        return column_of(field_name, field)

    def is_new_table(self, table: str) -> bool:
        """True when nothing can be using `table` yet, or it is too small to matter."""
        return (
            table in self.migration.created_tables
            or table in self.scope.new_tables
            or table in self.scope.small_tables
        )

    def deleted_later(self, model_name: str) -> bool:
        """Whether a later operation of this migration deletes `model_name` (its table goes).

        makemigrations removes a model's foreign keys before DeleteModel; a
        finding about a column of a table the same migration drops is noise.
        """
        wanted = model_name.lower()
        for operation in self.migration.migration.operations[self.visit.index + 1:]:
            inner = (operation.database_operations
                     if isinstance(operation, migrations.SeparateDatabaseAndState) else [operation])
            if any(isinstance(op, migrations.DeleteModel) and op.name_lower == wanted for op in inner):
                return True
        return False

    def changed_later(self, model_name: str, name: str | None = None) -> bool:
        """Whether a later operation of this migration changes field `name` (or, with no name,
        any field) of `model_name`, or renames, re-tables or deletes the model.

        A contract step written to run after the migration would then act on what those
        operations made, not on what this one left.
        """
        model = model_name.lower()
        field = None if name is None else name.lower()
        for operation in self.migration.migration.operations[self.visit.index + 1:]:
            if isinstance(operation, migrations.SeparateDatabaseAndState):
                return True
            if isinstance(operation, migrations.RenameModel | migrations.DeleteModel
                          | migrations.AlterModelTable) and operation.name_lower in (
                              model, getattr(operation, "old_name_lower", None)):
                return True
            if getattr(operation, "old_name_lower", None) == model:
                return True
            if isinstance(operation, migrations.CreateModel) and operation.name_lower == model:
                return True
            if getattr(operation, "model_name_lower", None) == model and (
                    field is None or field in (getattr(operation, "name_lower", None),
                                               getattr(operation, "old_name_lower", None),
                                               getattr(operation, "new_name_lower", None))):
                return True
        return False

    def lock(self, ddl: DDL, table: str) -> LockImpact:
        """The lock `ddl` takes on `table` on the target database."""
        return self.profile.lock(ddl, table)

    def model_for_table(self, table: str) -> ModelState | None:
        """The model state whose table is `table` (for raw SQL), or None."""
        return tables_by_name(self.state, self.profile.max_name_length()).get(table)


class SqlContext(OperationContext):
    """One parsed statement of a RunSQL operation."""

    def __init__(
        self,
        visit: OperationVisit,
        profile: BackendProfile,
        scope: Scope,
        *,
        statement: Any,
        statement_index: int,
        statements_in_call: int = 1,
    ) -> None:
        super().__init__(visit, profile, scope)
        self.statement = statement
        self.statement_index = statement_index
        # Statements of one SQL string reach the server in one call, which PostgreSQL
        # runs as one implicit transaction even when the migration is not atomic.
        self.statements_in_call = statements_in_call

    @property
    def in_transaction(self) -> bool:
        """Whether this statement runs inside a transaction block on the server."""
        return self.atomic or (self.statements_in_call > 1 and self.profile.transactional_ddl)


@dataclass(slots=True)
class MigrationContext:
    """A whole migration, after its operations were visited."""

    migration: MigrationVisit
    profile: BackendProfile
    operations: Sequence[OperationSummary] = field(default_factory=list)
    settings_vendor: str | None = None
    load_vendor: str | None = None

    @property
    def vendor(self) -> str:
        """Target database vendor."""
        return self.profile.vendor


@dataclass(slots=True)
class ProjectContext:
    """The whole project: loader, final state and the apps being linted."""

    loader: Any
    final_state: ProjectState
    app_labels: frozenset[str]
    profile: BackendProfile

    @property
    def vendor(self) -> str:
        """Target database vendor."""
        return self.profile.vendor
