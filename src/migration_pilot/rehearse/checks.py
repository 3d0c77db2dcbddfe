"""Check constraints of a historical model, made to hold for a generated row before it is inserted.

A constraint's condition (a `Q` of field lookups, `F()` references, plain
values and simple arithmetic) is evaluated in Python with SQL's three-valued
logic: a CHECK passes when its condition is TRUE or UNKNOWN (NULL). A
condition Python cannot read (functions, transforms, subqueries) is asked of
the database through Django's own `CheckConstraint.validate` (one query per
row). A row that fails is repaired by trying, for the fields the condition
names, the constants it compares them with (and their neighbours), the values
of the fields it compares them to, NULL and other generated values; a row no
candidate repairs is left out and counted.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import CheckConstraint, F, Q, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.lookups import Lookup

# How many candidate rows one failing row may be tried as: Python evaluations, then database queries.
PYTHON_TRIES = 400
DATABASE_TRIES = 8


class Unsupported(Exception):
    """The condition holds something the Python evaluator does not read."""


def condition_of(constraint: CheckConstraint) -> Any:
    """The constraint's condition: `condition` (Django 5.1+) or `check` (older)."""
    found = getattr(constraint, "condition", None)
    return found if found is not None else getattr(constraint, "check", None)


@dataclass
class RowCheck:
    """One CheckConstraint of a model: its condition, the fields it names and the constants per field."""

    constraint: CheckConstraint
    python: bool
    fields: list[str] = field(default_factory=list)
    constants: dict[str, list[Any]] = field(default_factory=dict)
    pairs: dict[str, set[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The constraint's name."""
        return str(self.constraint.name)


# -- reading the condition ------------------------------------------------------------------------------
def _split(lookup: str) -> tuple[str, str]:
    parts = lookup.split("__")
    if len(parts) == 1:
        return parts[0], "exact"
    if len(parts) == 2:
        return parts[0], parts[1]
    raise Unsupported(lookup)


def _walk(node: Any) -> Iterator[tuple[str, str, Any]]:
    """(field, lookup, right-hand side) of every leaf; Unsupported for what the evaluator cannot read."""
    if isinstance(node, Q):
        for child in node.children:
            if isinstance(child, tuple):
                name, lookup = _split(child[0])
                yield name, lookup, child[1]
            else:
                yield from _walk(child)
    elif isinstance(node, Lookup) and isinstance(node.lhs, F):
        yield node.lhs.name, node.lookup_name, node.rhs
    else:
        raise Unsupported(type(node).__name__)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, F):
        yield value.name
    elif isinstance(value, CombinedExpression):
        yield from _refs(value.lhs)
        yield from _refs(value.rhs)


def row_checks(model: Any) -> list[RowCheck]:
    """The CheckConstraints of `model`, each marked as evaluable in Python or not."""
    out = []
    for constraint in model._meta.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue
        check = RowCheck(constraint, python=True)
        try:
            leaves = list(_walk(condition_of(constraint)))
            for name, lookup, rhs in leaves:
                if lookup not in _LOOKUPS:
                    raise Unsupported(lookup)
                check.fields.append(name)
                refs = list(_refs(rhs))
                check.fields.extend(refs)
                for ref in refs:
                    check.pairs.setdefault(name, set()).add(ref)
                    check.pairs.setdefault(ref, set()).add(name)
                if not refs and lookup != "isnull":
                    values = list(rhs) if lookup in {"in", "range"} else [rhs]
                    check.constants.setdefault(name, []).extend(
                        v for v in values if not hasattr(v, "resolve_expression"))
        except (Unsupported, KeyError, TypeError):
            check.python = False
        check.fields = list(dict.fromkeys(check.fields))
        out.append(check)
    return out


# -- evaluating it ------------------------------------------------------------------------------------------
def _like(pattern: Callable[[str, str], bool], fold: bool) -> Callable[[Any, Any], bool]:
    def test(left: Any, right: Any) -> bool:
        a, b = str(left), str(right)
        return pattern(a.casefold(), b.casefold()) if fold else pattern(a, b)
    return test


_LOOKUPS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq,
    "iexact": _like(operator.eq, True),
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda left, right: left in list(right),
    "range": lambda left, right: right[0] <= left <= right[1],
    "contains": _like(lambda a, b: b in a, False),
    "icontains": _like(lambda a, b: b in a, True),
    "startswith": _like(str.startswith, False),
    "istartswith": _like(str.startswith, True),
    "endswith": _like(str.endswith, False),
    "iendswith": _like(str.endswith, True),
    "isnull": lambda left, right: (left is None) == bool(right),
}

_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
}


class RowValues:
    """The values of one model instance by field name (and attname), for the evaluator."""

    def __init__(self, meta: Any, obj: Any) -> None:
        self.meta, self.obj = meta, obj

    def __getitem__(self, name: str) -> Any:
        try:
            fld = self.meta.get_field(name)
        except Exception:
            raise Unsupported(name) from None
        if not getattr(fld, "concrete", False):
            raise Unsupported(name)
        return getattr(self.obj, fld.attname)


def _value(value: Any, row: RowValues) -> Any:
    if isinstance(value, F):
        return row[value.name]
    if isinstance(value, Value):
        return value.value
    if isinstance(value, CombinedExpression):
        left, right = _value(value.lhs, row), _value(value.rhs, row)
        if left is None or right is None:
            return None
        try:
            return _ARITHMETIC[value.connector](left, right)
        except KeyError:
            raise Unsupported(value.connector) from None
    if hasattr(value, "resolve_expression"):
        raise Unsupported(type(value).__name__)
    return value


def _leaf(name: str, lookup: str, rhs: Any, row: RowValues) -> bool | None:
    left = row[name]
    if lookup == "isnull":
        return _LOOKUPS["isnull"](left, rhs)
    right = [_value(v, row) for v in rhs] if lookup in {"in", "range"} else _value(rhs, row)
    if left is None or right is None or (lookup == "range" and None in right):
        return None
    if lookup == "in":
        right = [v for v in right if v is not None]
    try:
        return bool(_LOOKUPS[lookup](left, right))
    except TypeError:
        raise Unsupported(f"{name}__{lookup}") from None


def evaluate(node: Any, row: RowValues) -> bool | None:
    """True, False or None (SQL's UNKNOWN) for `node` on `row`; Unsupported when it cannot tell."""
    if isinstance(node, Lookup):
        if not isinstance(node.lhs, F):
            raise Unsupported(type(node.lhs).__name__)
        return _leaf(node.lhs.name, node.lookup_name, node.rhs, row)
    if not isinstance(node, Q):
        raise Unsupported(type(node).__name__)
    results = []
    for child in node.children:
        if isinstance(child, tuple):
            name, lookup = _split(child[0])
            results.append(_leaf(name, lookup, child[1], row))
        else:
            results.append(evaluate(child, row))
    if node.connector == Q.OR:
        result = True if True in results else None if None in results else False
    elif node.connector == Q.AND:
        result = False if False in results else None if None in results else True
    else:  # XOR: unknown if any operand is unknown, else an odd number of true operands
        result = None if None in results else sum(1 for r in results if r) % 2 == 1
    if node.negated and result is not None:
        result = not result
    return result


# -- making a row satisfy them --------------------------------------------------------------------------
def _neighbours(value: Any) -> list[Any]:
    if isinstance(value, bool) or value is None:
        return [value]
    if isinstance(value, int):
        return [value, value + 1, value - 1]
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        step = decimal.Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
        return [value, value + step, value - step]
    if isinstance(value, float):
        return [value, value + 1, value - 1]
    if isinstance(value, datetime.datetime):
        return [value, value + datetime.timedelta(minutes=1), value - datetime.timedelta(minutes=1)]
    if isinstance(value, datetime.date):
        return [value, value + datetime.timedelta(days=1), value - datetime.timedelta(days=1)]
    return [value]


class _OutOfTries(Exception):
    pass


class Satisfier:
    """Checks and repairs rows of one model against its check constraints."""

    def __init__(self, model: Any, alias: str, *, frozen: set[str],
                 others: Callable[[Any, int], list[Any]]) -> None:
        self.model, self.alias = model, alias
        self.meta = model._meta
        self.checks = row_checks(model)
        self.frozen = frozen
        self.others = others
        self.unsatisfied: Counter[str] = Counter()
        self._left: dict[bool, int] = {}  # tries left in a repair (Python, database); empty outside one

    def __bool__(self) -> bool:
        return bool(self.checks)

    def _passes(self, check: RowCheck, obj: Any) -> bool:
        if self._left:
            self._left[check.python] -= 1
            if self._left[check.python] < 0:
                raise _OutOfTries
        if check.python:
            try:
                return evaluate(condition_of(check.constraint), RowValues(self.meta, obj)) is not False
            except Unsupported:
                check.python = False
        try:
            check.constraint.validate(self.model, obj, using=self.alias)
        except ValidationError:
            return False
        return True

    def failing(self, obj: Any) -> RowCheck | None:
        """The first constraint `obj` fails, or None."""
        return next((c for c in self.checks if not self._passes(c, obj)), None)

    def _candidates(self, check: RowCheck, name: str, obj: Any, seq: int) -> list[Any]:
        fld = self.meta.get_field(name)
        found: list[Any] = []
        for constant in check.constants.get(name, []):
            found.extend(_neighbours(constant))
        row = RowValues(self.meta, obj)
        for other in sorted(check.pairs.get(name, ())):
            found.extend(_neighbours(row[other]))
        if fld.null:
            found.append(None)
        found.extend(self.others(fld, seq))
        return list(dict.fromkeys(v for v in found if _fits(fld, v)))

    def satisfy(self, obj: Any, seq: int) -> bool:
        """Make `obj` pass every check constraint (changing only fields they name); False if no way was found."""
        check = self.failing(obj)
        if check is None:
            return True
        saved = {f.attname: getattr(obj, f.attname) for f in self.meta.concrete_fields}
        self._left = {True: PYTHON_TRIES, False: DATABASE_TRIES}
        try:
            for _ in self.checks:
                if not self._repair(check, obj, seq):
                    break
                found = self.failing(obj)
                if found is None:
                    return True
                check = found
        except _OutOfTries:
            pass
        finally:
            self._left = {}
        self.unsatisfied[check.name] += 1
        for attname, value in saved.items():
            setattr(obj, attname, value)
        return False

    def _repair(self, check: RowCheck, obj: Any, seq: int) -> bool:
        """Change fields `check` names until it passes and the checks that passed still do."""
        kept = [c for c in self.checks if c is not check and self._passes(c, obj)]
        names = [n for n in check.fields if n not in self.frozen and _concrete(self.meta, n)]
        for size in (1, 2):
            for combo in itertools.combinations(names, size):
                saved = {n: getattr(obj, self.meta.get_field(n).attname) for n in combo}
                for values in self._combinations(check, combo, obj, seq):
                    for n, v in zip(combo, values, strict=True):
                        setattr(obj, self.meta.get_field(n).attname, v)
                    if self._passes(check, obj) and all(self._passes(c, obj) for c in kept):
                        return True
                self._restore(obj, saved)
        return False

    def _combinations(self, check: RowCheck, combo: tuple[str, ...], obj: Any,
                      seq: int) -> Iterator[tuple[Any, ...]]:
        first = self._candidates(check, combo[0], obj, seq)
        if len(combo) == 1:
            yield from ((v,) for v in first)
            return
        attname = self.meta.get_field(combo[0]).attname
        for value in first:
            setattr(obj, attname, value)
            for second in self._candidates(check, combo[1], obj, seq):
                yield value, second

    def _restore(self, obj: Any, saved: dict[str, Any]) -> None:
        for name, value in saved.items():
            setattr(obj, self.meta.get_field(name).attname, value)


def _concrete(meta: Any, name: str) -> bool:
    try:
        fld = meta.get_field(name)
    except Exception:
        return False
    return bool(getattr(fld, "concrete", False)) and not bool(fld.primary_key)


def _fits(fld: Any, value: Any) -> bool:
    if value is None:
        return bool(fld.null)
    limit = getattr(fld, "max_length", None)
    if isinstance(value, str) and limit and len(value) > limit:
        return False
    if isinstance(value, decimal.Decimal) and getattr(fld, "max_digits", None):
        whole = fld.max_digits - (fld.decimal_places or 0)
        return bool(abs(value) < decimal.Decimal(10) ** whole)
    if fld.get_internal_type() in {"PositiveIntegerField", "PositiveSmallIntegerField", "PositiveBigIntegerField"}:
        return not isinstance(value, int | decimal.Decimal | float) or bool(value >= 0)
    return True
