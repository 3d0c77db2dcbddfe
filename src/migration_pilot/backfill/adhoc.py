"""Backfills described on the command line: a model label, --update/--where texts or a function path.

The texts are kept in the checkpoint's `spec`, so `pilot backfill --resume NAME`
can rebuild exactly the same backfill after a crash.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

from migration_pilot.backfill.expressions import field_names, parse_assignment, parse_condition
from migration_pilot.backfill.work import PerRow, SetValues, Work
from migration_pilot.exceptions import BackfillDefinitionError


@dataclass(frozen=True, slots=True)
class AdHocBackfill:
    """Everything run_backfill needs, plus the spec that rebuilds it."""

    model: type[models.Model]
    work: Work
    name: str
    spec: dict[str, Any]
    description: str


def build(model_label: str, *, assignments: Sequence[str] = (), where: str | None = None,
          function: str | None = None, fields: Sequence[str] = (), name: str | None = None) -> AdHocBackfill:
    """Parse and check a command-line backfill; every problem is a one-line BackfillDefinitionError."""
    model = _model(model_label)
    if bool(assignments) == bool(function):
        raise BackfillDefinitionError("Give either --update FIELD=EXPRESSION (one or more) or --function.",
                                      hint="--update runs one UPDATE per batch; --function calls Python per row.")
    texts = [where] if where else []
    condition = parse_condition(where) if where else None
    if assignments:
        if fields:
            raise BackfillDefinitionError("--fields goes with --function, not with --update.",
                                          hint="The fields --update writes are the names before '='.")
        values = dict(parse_assignment(text) for text in assignments)
        texts += [text.partition("=")[2] for text in assignments]
        work: Work = SetValues(values, condition)
        changed = list(values)
    else:
        assert function is not None
        if not fields:
            raise BackfillDefinitionError("--function needs --fields, the fields the function changes.",
                                          hint="For example --fields status_code,total.")
        work = PerRow(_function(function), tuple(fields), condition)
        changed = list(fields)
    for text in texts:
        for field in sorted(field_names(text)):
            _require_field(model, field)
    spec = {"kind": "command", "model": model._meta.label, "set": list(assignments), "where": where,
            "function": function, "fields": list(fields)}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    default = f"{model._meta.app_label}.{model._meta.model_name}.{'+'.join(changed)}"[:190] + f".{digest}"
    what = ", ".join(changed)
    how = f" with {function}" if function else ""
    return AdHocBackfill(model, work, name or default, spec,
                         f"Backfill {what} of {model._meta.model_name} in committed batches{how}")


def from_spec(spec: dict[str, Any], name: str) -> AdHocBackfill:
    """Rebuild a command-line backfill from its checkpoint's spec."""
    return build(spec["model"], assignments=spec.get("set") or (), where=spec.get("where"),
                 function=spec.get("function"), fields=spec.get("fields") or (), name=name)


def _model(label: str) -> type[models.Model]:
    app_label, dot, model_name = label.partition(".")
    if not dot or not model_name:
        raise BackfillDefinitionError(f"{label!r} is not APP.Model.",
                                      hint="Name the model with its app label, e.g. shop.Order.")
    try:
        model: type[models.Model] = apps.get_model(app_label, model_name)
    except LookupError:
        raise BackfillDefinitionError(f"Unknown model {label!r}: no installed app has it.",
                                      hint="Name the model with its app label, e.g. shop.Order.") from None
    return model


def _require_field(model: type[models.Model], name: str) -> None:
    known = {f.name for f in model._meta.get_fields()} | {
        getattr(f, "attname", f.name) for f in model._meta.concrete_fields} | {"pk"}
    if name not in known:
        raise BackfillDefinitionError(
            f"Model {model._meta.label} has no field {name!r}.",
            hint=f"Its fields are: {', '.join(f.name for f in model._meta.concrete_fields)}.")


def _function(path: str) -> Any:
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), attribute) if module_name else None
    except (ImportError, AttributeError):
        function = None
    if not callable(function):
        raise BackfillDefinitionError(f"--function {path!r} is not an importable function.",
                                      hint="Give module.path:function, e.g. shop.backfills:fill_status_code.")
    return function
