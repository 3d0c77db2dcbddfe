"""Evaluate a migration file's expressions from its AST, allowing only migration vocabulary.

Nothing from the file is executed: no `exec`, `eval`, `compile` of its code,
no import of its modules. Literals, containers, names bound by imports of
allowed modules (see `allowlist.py`), module-level assignments and calls of
allowed classes are evaluated; a module-level `def` becomes a stub that never
runs; everything else becomes an `Opaque` placeholder.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any, Final

from django.db import migrations, models
from django.db.migrations.operations.base import Operation

from migration_pilot.lint.static.allowlist import (
    MISSING,
    attribute_of,
    callable_allowed,
    resolve,
    value_allowed,
)
from migration_pilot.lint.static.placeholders import (
    Opaque,
    OpaqueReference,
    stub_function,
    unknown_field,
    unknown_operation,
)

_MAX_SIZE: Final = 1_000_000  # a `"x" * 10**9`-style expression is not evaluated anyway; + is capped
_OPERATION_LISTS: Final = ("operations", "database_operations", "state_operations")
_FUNCTION_ARGUMENTS: Final = ("code", "reverse_code")
#: Builtins a migration may call to build a value; any other builtin name is not resolved.
_BUILTINS: Final[dict[str, Any]] = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list,
                                    "dict": dict}


class Evaluator:
    """Evaluates expressions of one migration file against its imports and module-level names."""

    def __init__(self, tree: ast.Module, *, filename: str, module: str, auth_user_model: str,
                 default_auto_field: str = "django.db.models.AutoField",
                 vendor: str = "postgresql") -> None:
        self.filename = filename
        self.module = module
        self.auth_user_model = auth_user_model
        self.default_auto_field = default_auto_field
        self.vendor = vendor
        #: What each module-level (then class-level) name is bound to: ("import", dotted path),
        #: ("assign", expression) or ("function", name); later bindings win, as when Python runs.
        self.names: dict[str, tuple[str, Any]] = {}
        self._evaluating: set[str] = set()
        for node in tree.body:
            self.bind(node)

    def bind(self, node: ast.stmt) -> None:
        """Record the names `node` binds (imports, simple assignments, defs); nothing is run."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.names[alias.asname] = ("import", alias.name)
                else:
                    first = alias.name.split(".")[0]
                    self.names[first] = ("import", first)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                return
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*":
                    path = f"{base}.{alias.name}" if node.module else f"{base}{alias.name}"
                    self.names[alias.asname or alias.name] = ("import", path)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            self.names[node.targets[0].id] = ("assign", node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            self.names[node.target.id] = ("assign", node.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.names[node.name] = ("function", node.name) if not isinstance(node, ast.ClassDef) \
                else ("class", node.name)

    def vendor_test(self, node: ast.expr) -> bool | None:
        """`connection.vendor == "postgresql"` (or !=, in, not in) for the linted vendor; None otherwise.

        Import mode takes the branch the settings' database picks when the
        module is imported; static mode takes the one the linted vendor picks.
        """
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
            return None
        if self.dotted(node.left) != "django.db.connection.vendor":
            return None
        right = self.value(node.comparators[0])
        op = node.ops[0]
        if isinstance(op, ast.Eq | ast.NotEq) and isinstance(right, str):
            return (self.vendor == right) == isinstance(op, ast.Eq)
        if isinstance(op, ast.In | ast.NotIn) and isinstance(right, list | tuple | set):
            return (self.vendor in right) == isinstance(op, ast.In)
        return None

    # Expressions ------------------------------------------------------------------
    def value(self, node: ast.expr) -> Any:
        """The value of `node`, or an Opaque placeholder for what may not be evaluated."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.value(e) for e in node.elts)
        if isinstance(node, ast.Set):
            return self._hashable(set, node.elts)
        if isinstance(node, ast.Dict):
            return self._dict(node)
        if isinstance(node, ast.Name | ast.Attribute):
            return self._reference(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._add(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.value(node.operand)
            if isinstance(operand, int | float | complex) and not isinstance(operand, bool):
                return -operand
        return self._opaque(node)

    def _opaque(self, node: ast.AST, **kwargs: Any) -> Opaque:
        return Opaque(ast.unparse(node), **kwargs)

    def _hashable(self, kind: type, elts: list[ast.expr]) -> Any:
        try:
            return kind(self.value(e) for e in elts)
        except TypeError:
            return Opaque("set of unhashable values")

    def _dict(self, node: ast.Dict) -> Any:
        result: dict[Any, Any] = {}
        for key, val in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                return self._opaque(node)
            try:
                result[self.value(key)] = self.value(val)
            except TypeError:
                return self._opaque(node)
        return result

    def _add(self, node: ast.BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        for kind in (str, bytes, list, tuple):
            if isinstance(left, kind) and isinstance(right, kind):
                if len(left) + len(right) > _MAX_SIZE:  # type: ignore[arg-type]
                    break
                return left + right  # type: ignore[operator]
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left + right
        return self._opaque(node)

    def dotted(self, node: ast.expr) -> str | None:
        """`a.b.c` with `a` replaced by what it was imported as; None for other expressions."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        bound = self.names.get(node.id)
        parts.append(bound[1] if bound is not None and bound[0] == "import" else node.id)
        return ".".join(reversed(parts))

    def _reference(self, node: ast.Name | ast.Attribute) -> Any:
        if isinstance(node, ast.Name):
            kind, payload = self.names.get(node.id, ("", None))
            if kind == "function":
                return stub_function(node.id, filename=self.filename, module=self.module)
            if kind == "assign":
                return self._assigned(node.id, payload)
            if kind != "import":
                if not kind and node.id in _BUILTINS:
                    return _BUILTINS[node.id]
                return OpaqueReference(node.id, path=node.id, defined_here=kind == "class")
        path = self.dotted(node)
        if path is None or (isinstance(node, ast.Attribute) and self._is_assigned_name(node.value)):
            # An attribute of a value (a call, a literal, a module-level variable): looked up
            # only on classes and modules of allowed packages, never on dunder names.
            assert isinstance(node, ast.Attribute)
            base = self.value(node.value)
            found = attribute_of(base, node.attr) if not isinstance(base, Opaque) else MISSING
            return self._opaque(node) if found is MISSING or not value_allowed(found) else found
        if path == "django.conf.settings.AUTH_USER_MODEL":
            return self.auth_user_model
        if path == "django.conf.settings.DEFAULT_AUTO_FIELD":
            return self.default_auto_field
        if path.startswith("django.conf.settings"):
            return OpaqueReference(path, path=path)  # other settings are the project's: not read
        found = resolve(path)
        if found is MISSING or not value_allowed(found):
            return OpaqueReference(path, path=path)
        return found

    def _is_assigned_name(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and self.names.get(node.id, ("",))[0] == "assign"

    def _assigned(self, name: str, node: ast.expr) -> Any:
        if name in self._evaluating:
            return Opaque(name)
        self._evaluating.add(name)
        try:
            return self.value(node)
        finally:
            self._evaluating.discard(name)

    def _call(self, node: ast.Call) -> Any:
        func = self.value(node.func)
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                spread = self.value(arg.value)
                if not isinstance(spread, list | tuple):
                    return self._opaque(node)
                args.extend(spread)
            else:
                args.append(self.value(arg))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            val = self.value(keyword.value)
            if keyword.arg is None:
                if not isinstance(val, dict) or not all(isinstance(k, str) for k in val):
                    return self._opaque(node)
                kwargs.update(val)
            else:
                kwargs[keyword.arg] = val
        special = _known_helper(self.dotted(node.func), args, kwargs)
        if special is not MISSING:
            return special
        builtin = any(func is b for b in _BUILTINS.values())
        if isinstance(func, Opaque) or not (builtin or callable_allowed(func)):
            path = func.path if isinstance(func, Opaque) else self.dotted(node.func)
            return self._opaque(node, path=path, args=tuple(args), kwargs=kwargs,
                                defined_here=isinstance(func, Opaque) and func.defined_here)
        if isinstance(func, type) and issubclass(func, Operation):
            return self.operation(func, args, kwargs, node)
        if isinstance(func, type) and issubclass(func, models.Field):
            args, kwargs = _coerce_field_arguments(func, args, kwargs)
        try:
            return func(*args, **kwargs)
        except Exception:  # bad or placeholder arguments: the value stays unknown
            return self._opaque(node, path=self.dotted(node.func), args=tuple(args), kwargs=kwargs)

    def operation(self, cls: type[Operation], args: list[Any], kwargs: dict[str, Any],
                  node: ast.Call) -> Operation:
        """`cls(*args, **kwargs)` with placeholders turned into unknown fields/operations/stubs.

        An argument still unknown after that (an index, a constraint, SQL read
        from a file) makes the whole operation unknown: judging it would be a guess.
        """
        opaque = Opaque(ast.unparse(node), path=self.dotted(node.func), args=tuple(args),
                        kwargs=kwargs)
        try:
            bound = inspect.signature(cls).bind(*args, **kwargs)
        except TypeError:
            return unknown_operation(opaque, known_class=True)
        for name, val in list(bound.arguments.items()):
            bound.arguments[name] = self._coerce(name, val)
            if isinstance(bound.arguments[name], Opaque):
                return unknown_operation(opaque, known_class=True)
        try:
            return cls(*bound.args, **bound.kwargs)
        except Exception:  # Django refused the arguments: migrate would fail too
            return unknown_operation(opaque, known_class=True)

    def _coerce(self, name: str, val: Any) -> Any:
        if name == "field" and isinstance(val, Opaque):
            return unknown_field(val)
        if name == "fields" and isinstance(val, list | tuple):
            return [(pair[0], unknown_field(pair[1]) if isinstance(pair[1], Opaque) else pair[1])
                    if isinstance(pair, tuple) and len(pair) == 2 else pair for pair in val]
        if name == "bases" and isinstance(val, tuple | list):
            kept = tuple(b for b in val if not isinstance(b, Opaque))
            return kept or (models.Model,)  # a project mixin has no column; the model still renders
        if name == "managers" and isinstance(val, list | tuple):
            return [pair for pair in val if not (isinstance(pair, tuple) and any(
                isinstance(part, Opaque) for part in pair))]
        if name in _OPERATION_LISTS and isinstance(val, list | tuple):
            return [self.as_operation(v) for v in val]
        if name in _FUNCTION_ARGUMENTS and isinstance(val, Opaque):
            # Defined elsewhere (an import): a stub whose source cannot be read, so rules say so.
            label = (val.path or val.source).rpartition(".")[2]
            return stub_function(label if label.isidentifier() else "code",
                                 filename="<not read: static lint>", module=val.path or "")
        return val

    def as_operation(self, val: Any) -> Operation:
        """`val` if it is an operation, else an unknown operation standing for it."""
        if isinstance(val, Operation):
            return val
        if isinstance(val, Opaque):
            return unknown_operation(val)
        return unknown_operation(Opaque(repr(val)[:200]))


def _coerce_field_arguments(cls: type, args: list[Any],
                            kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """ArrayField(<project field>): a `base_field` argument that is unknown becomes an unknown field."""
    try:
        bound = inspect.signature(cls).bind_partial(*args, **kwargs)
    except TypeError:
        return args, kwargs
    if isinstance(bound.arguments.get("base_field"), Opaque):
        bound.arguments["base_field"] = unknown_field(bound.arguments["base_field"])
        return list(bound.args), dict(bound.kwargs)
    return args, kwargs


def _known_helper(path: str | None, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Helpers that only compute a name from literals, answered without importing them.

    `swapper.get_model_name("app", "Model")` is "app.Model" (the model is
    assumed not swapped, as AUTH_USER_MODEL is assumed auth.User);
    `import_string("django...")` resolves only paths the allowlist allows.
    """
    literal = all(isinstance(a, str) for a in args) and not kwargs
    if path == "swapper.get_model_name" and literal and len(args) == 2:
        return f"{args[0]}.{args[1]}"
    if path == "swapper.dependency" and literal and len(args) in (2, 3):
        return migrations.swappable_dependency(f"{args[0]}.{args[1]}") if len(args) == 2 \
            else (args[0], args[2])
    if path == "django.utils.module_loading.import_string" and literal and len(args) == 1:
        found = resolve(args[0])
        return found if found is not MISSING and value_allowed(found) else MISSING
    return MISSING
