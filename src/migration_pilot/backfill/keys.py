"""The primary key a backfill walks: one orderable column, stored in the checkpoint as text."""

from __future__ import annotations

import datetime
from typing import Any, Final

from django.db import models

from migration_pilot.exceptions import BackfillDefinitionError

# Column types with a total order that a B-tree primary key index serves.
ORDERABLE: Final = frozenset({
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField", "CharField",
    "SlugField", "TextField", "EmailField", "UUIDField", "DateField", "DateTimeField", "DecimalField",
})


def key_field(model: type[models.Model]) -> models.Field[Any, Any]:
    """The model's primary key field, when it is one orderable column; else a one-line error."""
    pk = model._meta.pk
    label = model._meta.label
    if pk is None or not getattr(pk, "column", None) or type(pk).__name__ == "CompositePrimaryKey":
        raise BackfillDefinitionError(
            f"Model {label} has no single-column primary key, so it cannot be walked in key order.",
            hint="Backfill needs a single-column orderable primary key (integer, text, UUID or date).",
        )
    target = pk.target_field if pk.is_relation else pk
    kind = target.get_internal_type()
    if kind not in ORDERABLE:
        raise BackfillDefinitionError(
            f"Model {label}'s primary key {pk.name} is a {kind}, which has no usable order.",
            hint="Backfill needs a single-column orderable primary key (integer, text, UUID or date).",
        )
    return pk


def to_text(value: Any) -> str:
    """A key as the checkpoint stores it."""
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value)


def from_text(field: models.Field[Any, Any], text: str | None) -> Any:
    """A stored key back as the pk field's Python value (None stays None)."""
    if text is None:
        return None
    target = field.target_field if field.is_relation else field
    return target.to_python(text)
