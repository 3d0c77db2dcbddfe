"""Backfill values and conditions written on the command line, parsed into Django expressions.

`--update "code=upper(status)"` and `--where "code is None and n < 10"` use Python's
expression syntax (parsed by the `ast` module, never evaluated): names are
fields (F), literals are values, + - * / % combine, a small set of functions
maps to django.db.models.functions, `a if cond else b` is a CASE. The ORM
builds the SQL, so names are quoted by the backend and values are parameters.
"""

from __future__ import annotations

import ast
from typing import Any, Final

from django.db.models import Case, F, Q, Value, When, functions, lookups
from django.db.models.expressions import Combinable

from migration_pilot.exceptions import BackfillDefinitionError

FUNCTIONS: Final[dict[str, Any]] = {
    "abs": functions.Abs, "coalesce": functions.Coalesce, "concat": functions.Concat,
    "greatest": functions.Greatest, "least": functions.Least, "left": functions.Left,
    "length": functions.Length, "lower": functions.Lower, "ltrim": functions.LTrim, "now": functions.Now,
    "nullif": functions.NullIf, "replace": functions.Replace, "right": functions.Right,
    "round": functions.Round, "rtrim": functions.RTrim, "substr": functions.Substr, "trim": functions.Trim,
    "upper": functions.Upper, "md5": functions.MD5, "floor": functions.Floor, "ceil": functions.Ceil,
}
_CONSTANTS: Final = {"null": None, "NULL": None, "true": True, "false": False}
_COMPARE: Final[dict[type[ast.cmpop], Any]] = {
    ast.Eq: lookups.Exact, ast.Lt: lookups.LessThan, ast.LtE: lookups.LessThanOrEqual,
    ast.Gt: lookups.GreaterThan, ast.GtE: lookups.GreaterThanOrEqual, ast.In: lookups.In,
}
_HINT: Final = ("Write a Python-style expression over field names, e.g. \"upper(status)\", \"n + 1\","
                " \"'x' if paid else 'y'\"; conditions like \"status == 'paid' and code is None\".")


class _Bad(Exception):
    """Raised inside the walk; turned into one BackfillDefinitionError with the whole input."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """'field=expression' -> (field, Django expression or value)."""
    field, sep, expression = text.partition("=")
    field = field.strip()
    if not sep or not field.isidentifier() or expression.startswith("="):
        raise BackfillDefinitionError(f"--update {text!r} is not FIELD=EXPRESSION.",
                                      hint="For example --update \"status_code=upper(status)\".")
    return field, parse_value(expression, source=f"--update {text!r}")


def parse_value(text: str, *, source: str) -> Any:
    """An expression: a Django expression, or a plain Python value for a literal."""
    tree = _parse(text, source)
    try:
        return _value(tree.body, top=True)
    except _Bad as exc:
        raise BackfillDefinitionError(f"{source} cannot be used: {exc}.", hint=_HINT) from None


def parse_condition(text: str, *, source: str = "--where") -> Q:
    """A condition as a Q object (lookups with field expressions on the left)."""
    tree = _parse(text, f"{source} {text!r}")
    try:
        return _condition(tree.body)
    except _Bad as exc:
        raise BackfillDefinitionError(f"{source} {text!r} cannot be used: {exc}.", hint=_HINT) from None


def field_names(text: str) -> set[str]:
    """The field names an expression mentions (the first part of a__b paths)."""
    tree = ast.parse(text.strip(), mode="eval")
    return {node.id.split("__")[0] or node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id not in _CONSTANTS and node.id.lower() not in FUNCTIONS}


def _parse(text: str, source: str) -> ast.Expression:
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise BackfillDefinitionError(f"{source} does not parse: {exc.msg}.", hint=_HINT) from None


def _value(node: ast.expr, *, top: bool = False) -> Any:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise _Bad(f"{node.value!r} is not a value")
        return node.value if top else Value(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id] if top else Value(_CONSTANTS[node.id])
        return F(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int | float):
            return -node.operand.value if top else Value(-node.operand.value)
        return _value(node.operand) * Value(-1)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        operators: dict[type[ast.operator], str] = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__",
                                                    ast.Div: "__truediv__", ast.Mod: "__mod__"}
        method = operators.get(type(node.op))
        if method is None or not isinstance(left, Combinable):
            raise _Bad(f"operator {type(node.op).__name__} is not supported")
        return getattr(left, method)(right)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id.lower() not in FUNCTIONS or node.keywords:
            shown = ast.unparse(node.func)
            raise _Bad(f"unknown function {shown}(); known: {', '.join(sorted(FUNCTIONS))}")
        return FUNCTIONS[node.func.id.lower()](*[_value(arg) for arg in node.args])
    if isinstance(node, ast.IfExp):
        return Case(When(_condition(node.test), then=_value(node.body)), default=_value(node.orelse))
    raise _Bad(f"{ast.unparse(node)!r} is not a supported expression")


def _condition(node: ast.expr) -> Q:
    if isinstance(node, ast.BoolOp):
        parts = [_condition(value) for value in node.values]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if isinstance(node.op, ast.And) else combined | part
        return combined
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_condition(node.operand)
    if isinstance(node, ast.Compare):
        result: Q | None = None
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            part = _compare(left, op, right)
            result = part if result is None else result & part
            left = right
        assert result is not None
        return result
    if isinstance(node, ast.Name) and node.id not in _CONSTANTS:
        return Q(lookups.Exact(F(node.id), True))
    raise _Bad(f"{ast.unparse(node)!r} is not a condition")


def _compare(left: ast.expr, op: ast.cmpop, right: ast.expr) -> Q:
    if isinstance(op, ast.Is | ast.IsNot):
        if not (isinstance(right, ast.Constant) and right.value is None):
            raise _Bad("'is' and 'is not' only compare with None")
        return Q(lookups.IsNull(_value(left), isinstance(op, ast.Is)))
    if isinstance(right, ast.Constant) and right.value is None and isinstance(op, ast.Eq | ast.NotEq):
        return Q(lookups.IsNull(_value(left), isinstance(op, ast.Eq)))
    if isinstance(op, ast.In | ast.NotIn):
        if not isinstance(right, ast.Tuple | ast.List | ast.Set):
            raise _Bad("'in' needs a list of values, e.g. status in ('a', 'b')")
        values = [_value(item, top=True) for item in right.elts]
        found = Q(lookups.In(_value(left), values))
        return ~found if isinstance(op, ast.NotIn) else found
    if isinstance(op, ast.NotEq):
        return ~Q(lookups.Exact(_value(left), _value(right, top=True)))
    lookup = _COMPARE.get(type(op))
    if lookup is None:
        raise _Bad(f"comparison {type(op).__name__} is not supported")
    return Q(lookup(_value(left), _value(right, top=True)))
