"""What a backfill does to each window of rows: a set-based UPDATE or a per-row function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db import models, transaction
from django.db.models import Q

from migration_pilot.exceptions import BackfillDefinitionError

RowFunction = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class SetValues:
    """UPDATE table SET field = value-or-expression for the rows of a window matching `where`."""

    assignments: Mapping[str, Any]
    where: Q | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.assignments)


@dataclass(frozen=True, slots=True)
class PerRow:
    """Call `function(obj)` for each row of a window matching `where`, then bulk_update `fields`."""

    function: RowFunction
    fields: tuple[str, ...]
    where: Q | None = None
    lock_rows: bool = field(default=True)


Work = SetValues | PerRow


def as_q(where: Q | Mapping[str, Any] | None) -> Q | None:
    """`where` as given to Backfill (a Q or a filter() dict) as a Q; None when absent or empty."""
    if where is None:
        return None
    if isinstance(where, Q):
        return where if where else None
    if isinstance(where, Mapping):
        return Q(**dict(where)) if where else None
    raise BackfillDefinitionError(f"where={where!r} is neither a Q object nor a dict of lookups.",
                                  hint="Pass where=Q(status='paid') or where={'status': 'paid'}.")


def validate(model: type[models.Model], work: Work, using: str) -> None:
    """Fail in one line on a field or expression the model does not have, before any batch runs."""
    label = model._meta.label
    pk = model._meta.pk
    for name in work.fields:
        try:
            target = model._meta.get_field(name)
        except FieldDoesNotExist:
            known = ", ".join(f.name for f in model._meta.concrete_fields)
            raise BackfillDefinitionError(f"Model {label} has no field {name!r}.",
                                          hint=f"Its fields are: {known}.") from None
        if not getattr(target, "concrete", False) or target.many_to_many or target is pk:
            raise BackfillDefinitionError(f"Field {name!r} of {label} is not a column a backfill can set.",
                                          hint="Name a concrete, non-primary-key field.")
    queryset = model._default_manager.using(using)
    try:
        if work.where is not None:
            queryset = queryset.filter(work.where)
        if isinstance(work, SetValues):
            # Resolve every expression against the model without touching a row.
            with transaction.atomic(using=using):
                queryset.filter(pk__in=[]).update(**dict(work.assignments))
        else:
            str(queryset.query)
    except (FieldError, FieldDoesNotExist, TypeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        raise BackfillDefinitionError(f"Backfill of {label} does not fit the model: {message}.",
                                      hint="Check the field names in set/where against the model.") from None
