"""RunPython code that uses the app's current models instead of apps.get_model().

## What it does
Reads the migration file (nothing is imported) and flags a `RunPython`
function, forward or reverse, that imports a model module
(`from shop.models import Order`, `import shop.models`) or uses a model class
imported at the top of the file, directly or through a helper function of
the same file; also a model the file fetches at import time through an app
loader (`Order = get_model("shop", "Order")` at module level, as
django-oscar's `oscar.core.loading.get_model` or `django.apps.apps.get_model`
do): that is the current model too.

## Why is this dangerous?
A migration runs against the schema as it was at that point of the history,
but an imported class follows today's `models.py`. Once a later migration adds
or renames a field, the imported model selects columns that do not exist yet,
so `migrate` on a fresh database (CI, a new developer, a disaster recovery)
fails, or worse, the code writes through managers and `save()` overrides that
did not exist when the migration was written. `apps.get_model()` returns the
historical model that matches the schema.
See https://docs.djangoproject.com/en/stable/topics/migrations/#data-migrations

## Safe alternative
Get every model from the `apps` argument:

    from django.db import migrations


    def mark_new_orders_pending(apps, schema_editor):
        Order = apps.get_model("testapp", "Order")
        Order.objects.filter(status="new").update(status="pending")


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunPython(
                mark_new_orders_pending,
                reverse_code=migrations.RunPython.noop,
            ),
        ]

## Not flagged
- `from django.db import models` and anything else under a `db.models`
  package: fields, expressions and functions, not models.
- An `import shop.models` that Django wrote at the top of the file for a field
  default or a custom field and that no RunPython function uses.
- A name from a models module that is not a model class (a function or a
  constant), when the module is already loaded and says so.
- Functions migration_pilot cannot read (lambdas, compiled code): not guessed.

## No fix
When the model comes from a loader at import time, no rewritten migration is
offered: such code usually calls the current model's methods (a custom
`save()`, `generate_hash()`), which the historical model has not got, so a
mechanical rewrite would change what the migration does.

## Databases
All: PostgreSQL, MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps as django_apps
from django.db import migrations
from django.db.models import Model

from migration_pilot.analysis.source import MigrationSource, function_source
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="data")


@dataclass(frozen=True, slots=True)
class ModelUse:
    """A model reached without apps.get_model(): where it comes from and how the code names it."""

    module: str
    model: str | None
    local: str
    app_label: str | None = None


@dataclass(slots=True)
class Edit:
    """Replace text between two (line, column) positions of the source file."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


@rule.on(migrations.RunPython)
def check_run_python(ctx: OperationContext, op: migrations.RunPython) -> Iterator[Finding]:
    for code in (op.code, op.reverse_code):
        found = function_source(code) if code is not None else None
        if found is None:
            continue
        source, node = found
        package = str(getattr(code, "__module__", "")).rpartition(".")[0]
        analysis = Analysis(source, package)
        analysis.visit(node)
        if not analysis.uses:
            continue
        yield _finding(ctx, op, node.name, analysis)


def _finding(ctx: OperationContext, op: migrations.RunPython, name: str,
             analysis: Analysis) -> Finding:
    models = sorted({use.model or use.local for use in analysis.uses})
    modules = sorted({use.module for use in analysis.uses})
    first = next(use for use in analysis.uses if use.model is not None) if any(
        use.model for use in analysis.uses) else None
    example = (
        _get_model(first).replace("{apps}", "apps")
        if first is not None else 'Model = apps.get_model("app_label", "ModelName")'
    )
    plural = "s" if len(models) > 1 else ""
    return Finding(
        message=(
            f"RunPython {name} in {ctx.app_label}.{ctx.migration.name} uses the current"
            f" model{plural} {', '.join(models)} from {', '.join(modules)} instead of"
            " apps.get_model(), so it follows today's models.py, not the schema this"
            " migration runs against."
        ),
        hint=f"Get the historical model inside the function: {example}.",
        safe_alternative=None if analysis.loaded_uses else _rewritten(ctx, op),
    )


@dataclass(frozen=True, slots=True)
class Binding:
    """A name bound by a models import: `prefix` is how code spells the module in a chain."""

    module: str
    attribute: str | None
    prefix: tuple[str, ...]


class Analysis:
    """Model uses in one function and in the module-level helpers it calls."""

    def __init__(self, source: MigrationSource, package: str) -> None:
        self.source = source
        self.package = package
        self.uses: list[ModelUse] = []
        self.edits: dict[str, list[Edit]] = {}
        self.inserts: dict[str, list[ModelUse]] = {}
        self.helper_uses = False
        self.replaced: set[str] = set()
        self.local_lines: dict[str, set[str]] = {}
        self.bindings: dict[str, Binding] = {}
        tree = source.tree
        for node in tree.body if tree is not None else ():
            self.bindings.update(self._imported(node))
        self.loaded = _loaded_at_import(tree.body if tree is not None else [])
        self.loaded_uses = False
        self._seen: set[str] = set()

    def _imported(self, node: ast.stmt) -> dict[str, Binding]:
        """Names a models import statement binds."""
        found: dict[str, Binding] = {}
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_models_module(alias.name):
                    continue
                if alias.asname:
                    found[alias.asname] = Binding(alias.name, None, (alias.asname,))
                else:
                    root = alias.name.split(".")[0]
                    found[root] = Binding(alias.name, None, tuple(alias.name.split(".")))
        elif isinstance(node, ast.ImportFrom):
            module = self._absolute(node)
            for alias in node.names:
                local = alias.asname or alias.name
                if _is_models_module(module):
                    found[local] = Binding(module, alias.name, (local,))
                elif alias.name == "models" and _is_models_module(f"{module}.models"):
                    found[local] = Binding(f"{module}.models", None, (local,))
        return found

    def _absolute(self, node: ast.ImportFrom) -> str:
        name = "." * node.level + (node.module or "")
        if not node.level:
            return name
        try:
            return importlib.util.resolve_name(name, self.package)
        except (ImportError, ValueError):
            return name.lstrip(".")

    def visit(self, node: ast.FunctionDef, *, helper: bool = False) -> None:
        """Record the model uses of `node` and of the module-level functions it calls."""
        if node.name in self._seen:
            return
        self._seen.add(node.name)
        imports = [(child, self._imported(child)) for child in ast.walk(node)
                   if isinstance(child, ast.Import | ast.ImportFrom)]
        imports = [(child, bound) for child, bound in imports if bound]
        local_bindings = {name: b for _, bound in imports for name, b in bound.items()}
        local_names = _assigned_names(node) - set(local_bindings)
        bindings = {**self.bindings, **local_bindings}
        uses_by_binding: dict[str, list[ModelUse]] = {}
        for child in ast.walk(node):
            if (isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load) and child.id in self.loaded
                    and child.id not in local_names and child.id not in local_bindings):
                self.loaded_uses = True
                self.helper_uses |= helper
                use = self.loaded[child.id]
                if use not in self.uses:
                    self.uses.append(use)
            elif isinstance(child, ast.Attribute | ast.Name) and isinstance(child.ctx, ast.Load):
                found = self._reference(child, bindings, local_names)
                if found is not None:
                    name, use = found
                    uses_by_binding.setdefault(name, []).append(use)
                    self._use(node, child, use, helper, top=name not in local_bindings)
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
                callee = self.source.function(child.func.id)
                if callee is not None and child.func.id not in local_names:
                    self.visit(callee, helper=True)
        for statement, bound in imports:
            self._local_import(node, statement, bound, uses_by_binding, helper)

    def _local_import(self, func: ast.FunctionDef, node: ast.Import | ast.ImportFrom,
                      bound: dict[str, Binding], uses_by_binding: dict[str, list[ModelUse]],
                      helper: bool) -> None:
        """An import inside the function: flagged, and replaced by apps.get_model() lines."""
        uses: list[ModelUse] = []
        for local, binding in bound.items():
            if binding.attribute is None:
                uses.extend(uses_by_binding.get(local, []))
                if local not in uses_by_binding:
                    self.uses.append(ModelUse(binding.module, None, local))
            elif _may_be_model(binding.module, binding.attribute):
                use = ModelUse(binding.module, binding.attribute, local)
                uses.append(use)
                self.uses.append(use)
        if not uses and not any(b.attribute is None for b in bound.values()):
            return
        self.helper_uses |= helper
        indent = " " * node.col_offset
        lines = list(dict.fromkeys(_get_model(u) for u in uses if u.model is not None))
        self.local_lines.setdefault(func.name, set()).update(lines)
        self.edits.setdefault(func.name, []).append(Edit(
            (node.lineno, node.col_offset),
            (node.end_lineno or node.lineno, node.end_col_offset or 0),
            f"\n{indent}".join(lines) or "pass",
        ))

    def _reference(self, node: ast.Attribute | ast.Name, bindings: dict[str, Binding],
                   local_names: set[str]) -> tuple[str, ModelUse] | None:
        """(binding name, use) when `node` names a model through a models import."""
        dotted = _dotted(node)
        if dotted is None or dotted[0] in local_names or dotted[0] not in bindings:
            return None
        binding = bindings[dotted[0]]
        if binding.attribute is not None:
            if isinstance(node, ast.Name) and _may_be_model(binding.module, binding.attribute):
                return node.id, ModelUse(binding.module, binding.attribute, node.id)
            return None
        # A module: only the chain one longer than the module's spelling names a model.
        size = len(binding.prefix)
        if tuple(dotted[:size]) != binding.prefix or len(dotted) != size + 1:
            return None
        if not _may_be_model(binding.module, dotted[size]):
            return None
        return dotted[0], ModelUse(binding.module, dotted[size], dotted[size])

    def _use(self, func: ast.FunctionDef, node: ast.expr, use: ModelUse, helper: bool, *,
             top: bool) -> None:
        self.helper_uses |= helper
        if isinstance(node, ast.Attribute):
            self.edits.setdefault(func.name, []).append(_replace(node, use.local))
        if isinstance(node, ast.Name) and not top:
            return  # a name bound by an import inside the function: counted with the import
        self.uses.append(use)
        if top:
            self.replaced.add(_dotted(node)[0] if _dotted(node) else use.local)  # type: ignore[index]
            inserts = self.inserts.setdefault(func.name, [])
            if use not in inserts:
                inserts.append(use)


def _rewritten(ctx: OperationContext, op: migrations.RunPython) -> str | None:
    """The RunPython with every model taken from apps.get_model(), as a whole migration."""
    blocks: list[str] = []
    imports: set[str] = set()
    names: list[render.Code] = []
    for code in (op.code, op.reverse_code):
        if code is None:
            continue
        if code is migrations.RunPython.noop:
            names.append(render.raw("migrations.RunPython.noop"))
            continue
        found = function_source(code)
        if found is None:
            return None
        source, node = found
        analysis = Analysis(source, str(getattr(code, "__module__", "")).rpartition(".")[0])
        analysis.visit(node)
        if analysis.helper_uses or _uses_class_only_attributes(ctx, node, analysis):
            return None
        text = _apply(source, node, analysis)
        if text is None:
            return None
        for statement in source.code_for(node):
            blocks.append(text if statement is node else source.segment(statement) or "")
        imports |= {line for line in source.import_lines()
                    if not _binds(line, analysis.replaced)}
        names.append(render.raw(node.name))
    if not names:
        return None
    options: dict[str, object] = {}
    if len(names) > 1:
        options["reverse_code"] = names[1]
    if op.atomic is not None:
        options["atomic"] = op.atomic
    text = render.migration(
        [render.call("migrations.RunPython", names[0], **options)],
        dependencies=ctx.migration.dependencies,
        atomic=ctx.migration.atomic,
    )
    return render.with_code(text, *dict.fromkeys(blocks), imports=sorted(imports))


# What a historical model (apps.get_model) has besides its fields and managers.
_HISTORICAL = frozenset({"objects", "_default_manager", "_base_manager", "_meta", "DoesNotExist",
                         "MultipleObjectsReturned", "pk"})


def _uses_class_only_attributes(ctx: OperationContext, node: ast.FunctionDef, analysis: Analysis) -> bool:
    """Whether the function reads an attribute of an imported model that its historical model lacks.

    apps.get_model() gives a model with the fields and the managers marked use_in_migrations,
    none of the class's own methods: wagtail 0059 calls Collection.fix_tree(), which a
    rewrite to apps.get_model() would break. No fix then.
    """
    models = {use.local: use for use in analysis.uses if use.model is not None}
    for child in ast.walk(node):
        if not (isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name)
                and child.value.id in models):
            continue
        use = models[child.value.id]
        state = ctx.state.models.get(((use.app_label or _app_label(use.module)), (use.model or "").lower()))
        known = set(_HISTORICAL)
        if state is not None:
            known |= set(state.fields) | {name for name, _ in state.managers}
        if child.attr not in known:
            return True
    return False


def _apply(source: MigrationSource, node: ast.FunctionDef, analysis: Analysis) -> str | None:
    if not node.args.args:
        return None
    apps_name = node.args.args[0].arg
    edits = list(analysis.edits.get(node.name, []))
    done = analysis.local_lines.get(node.name, set())
    inserts = [u for u in analysis.inserts.get(node.name, [])
               if u.model is not None and _get_model(u) not in done]
    if inserts:
        first = node.body[0]
        docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                     and isinstance(first.value.value, str))
        indent = " " * first.col_offset
        lines = [_get_model(u) for u in inserts]
        anchor = node.body[1] if docstring and len(node.body) > 1 else first
        if docstring and len(node.body) == 1:
            position = (first.end_lineno or first.lineno, first.end_col_offset or 0)
            edits.append(Edit(position, position, "".join(f"\n{indent}{x}" for x in lines)))
        else:
            position = (anchor.lineno, anchor.col_offset)
            edits.append(Edit(position, position, "".join(f"{x}\n{indent}" for x in lines)))
    lines_of_file = source.text.splitlines(keepends=True)

    def offset(position: tuple[int, int]) -> int:
        line, column = position
        text = lines_of_file[line - 1]
        prefix = text.encode("utf-8")[:column].decode("utf-8", errors="ignore")
        return sum(len(x) for x in lines_of_file[: line - 1]) + len(prefix)

    start = offset((node.lineno, node.col_offset))
    end = offset((node.end_lineno or node.lineno, node.end_col_offset or 0))
    text = source.text
    for edit in sorted(edits, key=lambda e: offset(e.start), reverse=True):
        a, b = offset(edit.start), offset(edit.end)
        text = text[:a] + edit.text.replace("{apps}", apps_name) + text[b:]
        end += len(edit.text.replace("{apps}", apps_name)) - (b - a)
    return text[start:end]


def _get_model(use: ModelUse) -> str:
    """`Order = {apps}.get_model("shop", "Order")`; {apps} becomes the function's argument."""
    return f'{use.local} = {{apps}}.get_model("{use.app_label or _app_label(use.module)}", "{use.model}")'


def _replace(node: ast.Attribute, name: str) -> Edit:
    return Edit((node.lineno, node.col_offset),
                (node.end_lineno or node.lineno, node.end_col_offset or 0), name)


def _binds(line: str, names: set[str]) -> bool:
    """Whether an import line (as MigrationSource.import_lines writes it) binds one of `names`."""
    bound = line.rsplit(" as ", 1)[1] if " as " in line else line.split()[-1].split(".")[0]
    return bound in names


def _loaded_at_import(body: list[ast.stmt]) -> dict[str, ModelUse]:
    """Module-level `Name = get_model("app", "Model")` (any loader's get_model): the current model."""
    found: dict[str, ModelUse] = {}
    for statement in body:
        if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)):
            continue
        call = statement.value
        callee = _dotted(call.func)
        if not callee or callee[-1] != "get_model":
            continue
        arguments = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if len(arguments) == 2:
            app_label, model = arguments
        elif len(arguments) == 1 and arguments[0].count(".") == 1 and len(call.args) == 1:
            app_label, model = arguments[0].split(".")
        else:
            continue
        spelled = f"{'.'.join(callee)}({', '.join(repr(a) for a in arguments)}) at import time"
        for target in statement.targets:
            if isinstance(target, ast.Name):
                found[target.id] = ModelUse(spelled, model, target.id, app_label)
    return found


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _assigned_names(node: ast.FunctionDef) -> set[str]:
    """Names local to the function: parameters and anything it assigns (Python scoping)."""
    names = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in child.names)
        elif isinstance(child, ast.FunctionDef | ast.ClassDef) and child is not node:
            names.add(child.name)
    return names


def _is_models_module(module: str) -> bool:
    """A module holding models: `x.models` or below it, except `*.db.models` (fields, functions)."""
    parts = module.split(".")
    if "models" not in parts:
        return False
    index = parts.index("models")
    return index == 0 or parts[index - 1] != "db"


def _may_be_model(module: str, attribute: str) -> bool:
    """False only when the already loaded module says `attribute` is not a model class."""
    loaded = sys.modules.get(module)
    if loaded is None or not hasattr(loaded, attribute):
        return True
    value = getattr(loaded, attribute)
    return isinstance(value, type) and issubclass(value, Model)


def _app_label(module: str) -> str:
    """The app label of a models module, from the app registry (nothing is imported)."""
    config = django_apps.get_containing_app_config(module) if django_apps.ready else None
    if config is not None:
        return str(config.label)
    parts = module.split(".")
    return parts[parts.index("models") - 1] if "models" in parts else parts[0]
