"""Whether DATABASE_ROUTERS keep an operation off one database alias.

Django's operations ask the routers before touching the database
(`allow_migrate_model` for model operations, `allow_migrate` with the
operation's hints for RunSQL and RunPython) and do nothing where the answer is
no, while the migration is still recorded there. `pilot plan` must then show
no locks and no data loss for that alias, or a project whose router sends one
app to another database reads false alarms for every migration of that app.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import router


def routed_away(operation: Any, app_label: str, alias: str) -> bool:
    """True when the routers say `operation` of `app_label` does nothing on `alias`.

    The routers are asked as Django asks them, but without rendering the model
    (that would cost a full state render per operation): `model_name` is given
    as a hint, `model` is not. A router that needs the model class and fails
    without it is taken to allow the operation (the plan then shows its locks,
    erring on the side of a warning).
    """
    if not settings.DATABASE_ROUTERS:
        return False
    hints: dict[str, Any] = dict(getattr(operation, "hints", None) or {})
    model_name = getattr(operation, "model_name", None) or (
        getattr(operation, "name", None) if not hints and not hasattr(operation, "code") else None)
    if isinstance(model_name, str) and "model_name" not in hints:
        hints["model_name"] = model_name.lower()
    try:
        return not router.allow_migrate(alias, app_label, **hints)
    except Exception:  # a router written for Django's own call (it reads hints["model"]): assume allowed
        return False
