"""Which tables an operation touches and the lock it takes there, from the Django operation.

Works for every vendor without SQL; on PostgreSQL the plan refines it with the
parsed SQL. Unknown operations get the conservative worst case from backends/.
"""

from __future__ import annotations

from django.db import migrations
from django.db.migrations.state import ProjectState

from migration_pilot.analysis.emits import emits_sql
from migration_pilot.analysis.schema import table_of
from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.plan.locks import LockImpact

_MODEL_NAME_OPS: dict[type, DDL] = {
    migrations.AddField: DDL.ADD_COLUMN,
    migrations.RemoveField: DDL.DROP_COLUMN,
    migrations.AlterField: DDL.ALTER_TYPE,
    migrations.RenameField: DDL.RENAME,
    migrations.AddIndex: DDL.CREATE_INDEX,
    migrations.RemoveIndex: DDL.DROP_INDEX,
    migrations.RenameIndex: DDL.RENAME,
    migrations.AddConstraint: DDL.ADD_CHECK,
    migrations.RemoveConstraint: DDL.DROP_INDEX,
}
_NAME_OPS: dict[type, DDL] = {
    migrations.DeleteModel: DDL.DROP_TABLE,
    migrations.RenameModel: DDL.RENAME,
    migrations.AlterModelTable: DDL.RENAME,
    migrations.AlterUniqueTogether: DDL.ADD_UNIQUE,
    migrations.AlterIndexTogether: DDL.CREATE_INDEX,
    migrations.AlterOrderWithRespectTo: DDL.ADD_COLUMN,
}
_NO_LOCK = (migrations.AlterModelOptions, migrations.AlterModelManagers, migrations.RunPython,
            migrations.CreateModel)


def operation_locks(operation: object, app_label: str, state: ProjectState,
                    profile: BackendProfile) -> list[LockImpact]:
    """Locks `operation` takes, judged from its type and the state before it."""
    kind = type(operation)
    if isinstance(operation, _NO_LOCK) and kind.__module__.startswith("django.db.migrations"):
        return []
    model_name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    table = None
    if isinstance(model_name, str):
        model = state.models.get((app_label, model_name.lower()))
        if model is not None:
            table = table_of(model, profile.max_name_length())
    ddl = _MODEL_NAME_OPS.get(kind) or _NAME_OPS.get(kind)
    if table is None or ddl is None:
        return []
    if not emits_sql(operation, kind, app_label, state, profile.max_name_length(), profile.vendor):
        return []  # Django's schema editor emits nothing for it (choices, help_text, db_column kept...)
    return [profile.lock(ddl, table)]
