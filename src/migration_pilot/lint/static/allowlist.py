"""What static mode may import, read and call: Django's and this package's migration vocabulary.

Importing a module of Django, of `migration_pilot.operations` or of three
stdlib value modules runs library code this tool already trusts; a module the
migration file names beyond those (the project's own, a third-party app's) is
never imported. Calls are limited to classes that only hold values when built
(operations, fields, indexes, constraints, expressions, validators,
managers) and a few value constructors.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import importlib
import types
import uuid
from typing import Any, Final

from django.core import validators
from django.db import migrations, models
from django.db.migrations.operations.base import Operation
from django.db.models.constraints import BaseConstraint
from django.db.models.expressions import BaseExpression, Combinable
from django.db.models.manager import BaseManager
from django.utils import timezone

MISSING: Final = object()

#: Modules under these prefixes may be imported to resolve a name.
_MODULE_PREFIXES: Final = ("django.", "migration_pilot.operations")
_STDLIB_MODULES: Final = frozenset({"datetime", "decimal", "uuid"})

#: Classes whose instances are plain values: building one runs no project code.
_VALUE_BASES: Final = (Operation, models.Field, models.Index, BaseConstraint, BaseExpression,
                       Combinable, models.Q, BaseManager)

_VALUE_CALLABLES: Final = frozenset({
    migrations.swappable_dependency, models.SET,
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone,
    decimal.Decimal, uuid.UUID,
})

#: Functions kept as themselves when a migration names them without calling them: Django
#: calls `on_delete` handlers only when deleting, and a callable default when it writes a column.
_VALUE_FUNCTIONS: Final = frozenset({
    models.CASCADE, models.PROTECT, models.RESTRICT, models.SET_NULL, models.SET_DEFAULT,
    models.DO_NOTHING, migrations.RunPython.noop, timezone.now, uuid.uuid4,
})

#: Classes that look like values but load or connect (they subclass none of the bases, but
#: are named here so a future base change cannot let them in).
_NEVER: Final = frozenset({"MigrationLoader", "MigrationExecutor", "MigrationRecorder"})


def module_allowed(name: str) -> bool:
    """Whether importing module `name` is allowed (Django, this package's operations, value stdlib)."""
    return name == "django" or name.startswith(_MODULE_PREFIXES) or name in _STDLIB_MODULES


@functools.lru_cache(maxsize=4096)  # the same few hundred names recur in every file
def resolve(path: str) -> Any:
    """The object at dotted `path` when it lives in an allowed module, else MISSING.

    Tries the longest importable module prefix, then plain attribute lookups;
    names with a leading underscore are refused (no `__class__` tricks).
    """
    parts = path.split(".")
    if any(part.startswith("_") for part in parts):
        return MISSING
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        if not module_allowed(module_name):
            continue
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception:  # not a module, or a contrib module needing GDAL/an installed app
            continue
        for attribute in parts[cut:]:
            obj = attribute_of(obj, attribute)
            if obj is MISSING:
                return MISSING
        return obj
    return MISSING


def attribute_of(obj: Any, name: str) -> Any:
    """`obj.name` for a module or class from an allowed module; MISSING otherwise."""
    if name.startswith("_"):
        return MISSING
    if isinstance(obj, type(datetime)):
        if not module_allowed(obj.__name__):
            return MISSING
    elif isinstance(obj, type):
        if not module_allowed(obj.__module__ or ""):
            return MISSING
    else:
        return MISSING
    try:
        return getattr(obj, name)
    except Exception:
        return MISSING


def callable_allowed(obj: Any) -> bool:
    """Whether static mode may call `obj` to build a value."""
    try:
        if obj in _VALUE_CALLABLES:
            return True
    except TypeError:  # unhashable
        return False
    if not isinstance(obj, type) or obj.__name__ in _NEVER:
        return False
    module = obj.__module__ or ""
    if not module_allowed(module) or module in _STDLIB_MODULES:
        return False
    if module == validators.__name__ or module == "django.contrib.postgres.validators":
        return True
    return issubclass(obj, _VALUE_BASES)


def value_allowed(obj: Any) -> bool:
    """Whether a resolved name may stand as itself in a built migration.

    Anything callable that Django (or a rule) might call later, such as a
    field default, must be harmless: modules, non-callables, the functions
    above and the value classes are; any other function or class of an allowed
    module (`call_command`, `import_string`) is replaced by a placeholder.
    """
    if isinstance(obj, types.ModuleType) or not callable(obj):
        return True
    try:
        if obj in _VALUE_FUNCTIONS:
            return True
    except TypeError:  # unhashable
        return False
    return callable_allowed(obj)
