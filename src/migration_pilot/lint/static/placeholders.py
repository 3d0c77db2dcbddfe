"""Stand-ins for what static mode may not evaluate: project fields, operations, values, functions.

Nothing here ever runs code from the linted project. A placeholder keeps the
dotted path it was named by, so messages can say what was not judged.
"""

from __future__ import annotations

import types
from typing import Any, Final

from django.db import models
from django.db.migrations.operations.base import Operation
from django.db.migrations.serializer import BaseSerializer, Serializer

#: Field keyword arguments whose meaning is the same for every Field subclass.
_COMMON_FIELD_OPTIONS: Final = frozenset({
    "verbose_name", "name", "primary_key", "max_length", "unique", "blank", "null", "db_index",
    "default", "db_default", "editable", "serialize", "unique_for_date", "unique_for_month",
    "unique_for_year", "choices", "help_text", "db_column", "db_tablespace", "auto_created",
    "validators", "error_messages", "db_comment",
})


class Opaque:
    """A value static mode did not evaluate: a project name, an unknown call, a forbidden expression."""

    def __init__(self, source: str, *, path: str | None = None, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None, defined_here: bool = False) -> None:
        self.source = source
        self.path = path
        self.args = args
        self.kwargs = kwargs or {}
        self.defined_here = defined_here  # a class the migration file itself defines

    def __repr__(self) -> str:
        return f"<not evaluated: {self.source}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __deepcopy__(self, memo: dict[int, Any]) -> Opaque:
        return self


class OpaqueReference(Opaque):
    """A name that is not called (`default=myapp.utils.make_code`): most likely a callable.

    Calling it returns None and runs nothing; Django calls a callable default
    when it writes a column's SQL.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


class UnknownField(models.Field):  # type: ignore[type-arg]
    """A field of a class static mode does not know (`myapp.fields.MoneyField`): its column type is unknown.

    `get_internal_type()` names no Django type, so `db_type()` is None and the
    rules that need the column type say they could not judge it.
    """

    unknown_path: str = "?"
    static_unknown = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._static_args = args
        self._static_kwargs = dict(kwargs)
        known = {k: v for k, v in kwargs.items() if (k in _COMMON_FIELD_OPTIONS
                 and not isinstance(v, Opaque)) or k == "default"}
        super().__init__(**known)

    def get_internal_type(self) -> str:
        return "UnknownField"

    def deconstruct(self) -> Any:
        name, _, _, _ = super().deconstruct()
        return name, self.unknown_path, list(self._static_args), dict(self._static_kwargs)

    def clone(self) -> UnknownField:
        return type(self)(*self._static_args, **self._static_kwargs)


def not_stated(field: object, option: str) -> bool:
    """True when `field` is an unknown class and the migration does not state `option`.

    Such a class may set it in its own __init__ (oscar's NullCharField sets
    null=True), so rules that depend on it do not judge.
    """
    return isinstance(field, UnknownField) and option not in field._static_kwargs


def unknown_field(opaque: Opaque) -> UnknownField:
    """An UnknownField named after the unknown class `opaque` called."""
    path = opaque.path or opaque.source
    module, _, name = path.rpartition(".")
    cls = type(name or "UnknownField", (UnknownField,),
               {"__module__": module or "unknown", "unknown_path": path})
    return cls(*opaque.args, **opaque.kwargs)  # type: ignore[no-any-return]


class UnknownOperation(Operation):
    """An operation static mode does not know; the walk treats it as unknown (unknown-operation rule)."""

    reduces_to_sql = False
    reversible = True
    unknown_path = "?"
    source = "?"
    known_class = False
    defined_here = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._static_args = args
        self._static_kwargs = kwargs

    def deconstruct(self) -> Any:
        return self.unknown_path, list(self._static_args), dict(self._static_kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Its effect on the models is unknown: the state is left as it was."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        raise RuntimeError("static mode placeholder: never run")

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        raise RuntimeError("static mode placeholder: never run")

    def describe(self) -> str:
        return f"{self.unknown_path} (not evaluated: static lint)"

    @property
    def static_reason(self) -> str:
        """The unknown-operation message: what static lint could not evaluate, in the file's words."""
        source = " ".join(self.source.split())
        shown = source if len(source) <= 100 else source[:97] + "..."
        if self.known_class:
            return (f"lint --static could not evaluate the arguments of {shown} (they name code"
                    " it does not import), so its database effect was not checked.")
        if self.defined_here:
            return (f"{shown} uses an operation class defined in the migration file; lint --static"
                    " runs no code from the file, so its database effect was not checked.")
        return (f"{shown} is not an operation lint --static can evaluate (it imports no code from"
                " the project), so its database effect was not checked.")


def unknown_operation(opaque: Opaque, *, known_class: bool = False) -> UnknownOperation:
    """An UnknownOperation named after what `opaque` called.

    `known_class`: the class is a Django operation whose arguments could not be evaluated.
    """
    path = opaque.path or opaque.source
    module, _, name = path.rpartition(".")
    safe = name if name.isidentifier() else "UnknownOperation"
    cls = type(safe, (UnknownOperation,), {"__module__": module or "unknown", "unknown_path": path,
                                           "source": opaque.source, "known_class": known_class,
                                           "defined_here": opaque.defined_here})
    return cls(*opaque.args, **opaque.kwargs)  # type: ignore[no-any-return]


def _never_called(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("static lint never runs migration code")


def stub_function(name: str, *, filename: str, module: str) -> types.FunctionType:
    """A callable standing for function `name` of `filename`; it never runs the real code.

    It carries the name, qualname, module and file of the real function, so
    `analysis.source.function_source` reads the real `def` from the file.
    """
    code = _never_called.__code__.replace(co_filename=filename, co_name=name, co_qualname=name)
    stub = types.FunctionType(code, {}, name)
    stub.__qualname__ = name
    stub.__module__ = module
    return stub


class _OpaqueSerializer(BaseSerializer):
    """Writes a placeholder back as the source text it stood for (in a rendered safe alternative)."""

    def serialize(self) -> tuple[str, set[str]]:
        return self.value.source, set()


Serializer.register(Opaque, _OpaqueSerializer)
