"""Backfilling every row of an existing table in one transaction.

## What it does
Flags data migrations that rewrite a whole existing table at once:
- a `RunPython` function that loops over `Model.objects.all()` (or
  `.iterator()`, or any queryset without `filter`/`exclude`/slicing) and calls
  `.save()` on each row, in a transaction: an atomic migration, `RunPython`
  with `atomic=True`, or a `with transaction.atomic()` block;
- a `RunPython` function that calls `.update(...)` on an unfiltered queryset
  (`Model.objects.update(...)`, `Model.objects.all().update(...)`), or on one
  filtered only to the rows not done yet on a field it sets
  (`filter(code=None)`, `filter(code="")`, `filter(code__isnull=True)`,
  `exclude(code=<the new value>)`): for a column just added that is every row;
- a loop over a whole table that writes with `bulk_update`, in a transaction:
  the batches are smaller statements, but every row stays locked until the
  one commit;
- a `RunSQL` `UPDATE` without `WHERE`.

The function may be a module-level function or a method of a `RunPython`
subclass defined in the migration file (its code is read the same way; no
rewritten migration is offered for a method).

This is the pattern the migrations runbook (section 4.2, "Data Migration
Guidelines") recommends; migration_pilot recommends batches instead.

## Why is this dangerous?
Every updated row keeps its row lock until the transaction commits, and the
table holds a ROW EXCLUSIVE lock: any request that writes one of those rows
waits for the whole backfill, and with a save() per row that is one round trip
per row, so minutes on a large table. Each updated row also leaves a dead row
version behind (bloat: on PostgreSQL the table doubles in size until VACUUM),
the replicas receive the whole rewrite at once and lag, and a failure at row
9,999,999 rolls everything back, so the next attempt starts from zero. A single
`UPDATE` without `WHERE` is one transaction by itself, even with
`atomic = False`.
See https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS
and https://docs.djangoproject.com/en/stable/howto/writing-migrations/#non-atomic-migrations

## Safe alternative
A migration with `atomic = False` that walks the table by primary key in
batches, each batch in its own short transaction, prints its progress and
only picks rows that are not done yet, so it can be rerun after a failure:

    from django.db import migrations, transaction

    BATCH_SIZE = 1000


    def fill_note(apps, schema_editor):
        Order = apps.get_model("testapp", "Order")
        db = schema_editor.connection.alias
        # Only rows still to do, so a rerun after a failure carries on where it stopped.
        rows = Order.objects.using(db).filter(note="").order_by("pk")
        last_pk = None
        done = 0
        while True:
            page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
            batch = list(page[:BATCH_SIZE])
            if not batch:
                break
            with transaction.atomic(using=db):
                for order in batch:
                    order.note = f"status at migration: {order.status}"
                Order.objects.using(db).bulk_update(batch, ["note"])
            last_pk = batch[-1].pk
            done += len(batch)
            print(f"fill_note: {done} rows of testapp_order done, up to pk {last_pk}")


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunPython(fill_note, reverse_code=migrations.RunPython.noop),
        ]

For SQL, run `UPDATE ... WHERE id BETWEEN %s AND %s` per range from a
RunPython in the same kind of migration; the finding renders it for your
statement. Very large tables are better served by a management command run
outside the deploy, with the same loop.

## Not flagged
- Tables created earlier in the same migration: nobody writes to them yet.
- Other filters (`filter(status="new").update(status="pending")`), sliced
  querysets (`[:1000]`) and `UPDATE ... WHERE`: migration_pilot cannot tell
  how many rows match.
- A save() loop in a migration with `atomic = False` (and no
  `transaction.atomic()` around it): every save commits on its own.
- Functions migration_pilot cannot read (lambdas, compiled code): not guessed.

## Databases
All: PostgreSQL, MySQL/MariaDB (InnoDB row locks) and SQLite (the database
write lock is held until commit).
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations
from pglast import ast as pg
from pglast import parse_sql
from pglast.stream import RawStream

from migration_pilot.analysis.schema import default_table_name, find_model, table_of
from migration_pilot.analysis.source import MigrationSource, function_source, read_source
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="data")

HINT = (
    "Backfill in batches by primary key from a migration with atomic = False: one short"
    " transaction per batch, skipping rows already done."
)
MANAGERS = {"objects", "_default_manager", "_base_manager"}
WHOLE_TABLE_METHODS = {"all", "iterator", "order_by", "only", "defer", "select_related",
                       "prefetch_related", "using", "annotate", "select_for_update", "distinct"}
KEPT_METHODS = {"only", "defer", "select_related", "prefetch_related"}
INTEGER_KEYS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
                "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField"}
_IMPORTS = ("from django.db import migrations, transaction",)


def _consequence(table: str) -> str:
    return (f"every row stays locked until commit, so writes to {table} wait, and the"
            " table bloats and replicas lag.")


@dataclass(slots=True)
class Queryset:
    """`Model.objects.<methods>()` with only whole-table methods."""

    model_var: str
    kept: list[str] = field(default_factory=list)
    # `.filter(...)`/`.exclude(...)` calls of a backfill's "rows not done yet" filter.
    filters: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Backfill:
    """One whole-table rewrite found in a RunPython function."""

    kind: str  # "save-loop", "bulk-update" or "update"
    node: ast.stmt
    queryset: Queryset
    in_atomic_block: bool


def method_source(func: object) -> tuple[MigrationSource, ast.FunctionDef] | None:
    """The file and `def` of a method of a module-level class (a RunPython subclass's code)."""
    code = getattr(func, "__code__", None)
    parts = str(getattr(func, "__qualname__", "")).split(".")
    if code is None or len(parts) != 2:
        return None
    source = read_source(code.co_filename)
    tree = source.tree if source is not None else None
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.ClassDef) and node.name == parts[0]:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == parts[1]:
                    return source, item  # type: ignore[return-value]
    return None


@rule.on(migrations.RunPython)
def check_run_python(ctx: OperationContext, op: migrations.RunPython) -> Iterator[Finding]:
    found = function_source(op.code)
    method = found is None
    found = found or method_source(op.code)
    if found is None:
        return
    source, function = found
    in_transaction = op.atomic if op.atomic is not None else ctx.migration.atomic
    models = _get_model_calls(function, ctx.app_label)
    for backfill in find_backfills(function):
        app, model = models.get(backfill.queryset.model_var,
                                (ctx.app_label, backfill.queryset.model_var))
        table = _table(ctx, app, model)
        if ctx.is_new_table(table):
            continue
        looped = backfill.kind in {"save-loop", "bulk-update"}
        if looped and not (in_transaction or backfill.in_atomic_block):
            continue
        how = {"save-loop": "saves every row of",
               "bulk-update": "writes every row of",
               "update": "updates every row of"}[backfill.kind]
        if backfill.queryset.filters:
            how = (f"updates every row of {table} still matching"
                   f" {''.join(backfill.queryset.filters).lstrip('.')} (for a column just added,"
                   " every row) in one statement:")
            table_text = ""
        else:
            table_text = f" {table}"
        where = f"{ctx.app_label}.{ctx.migration.name}"
        single = {"save-loop": " in a single transaction:",
                  "bulk-update": " with bulk_update in a single transaction:",
                  "update": " in one statement:"}[backfill.kind] if table_text else ""
        yield Finding(
            message=(f"RunPython {function.name} in {where} {how}{table_text}{single} "
                     + _consequence(table)),
            hint=HINT,
            lock=ctx.lock(DDL.UPDATE_ALL_ROWS, table),
            # A method (a RunPython subclass) is not rewritten: its class may hold more than the loop.
            safe_alternative=None if method else _batched_python(ctx, op, source, function, backfill,
                                                                 app, model, table),
        )


@rule.on_sql(pg.UpdateStmt)
def check_sql(ctx: SqlContext, stmt: pg.UpdateStmt) -> Iterator[Finding]:
    if stmt.whereClause is not None or stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    yield Finding(
        message=(f"UPDATE without WHERE in {ctx.app_label}.{ctx.migration.name} rewrites every"
                 f" row of {table} in one transaction: " + _consequence(table)),
        hint=HINT,
        lock=ctx.lock(DDL.UPDATE_ALL_ROWS, table),
        safe_alternative=_batched_sql(ctx, stmt, table),
    )


# Finding the pattern -----------------------------------------------------------------

def find_backfills(function: ast.FunctionDef) -> list[Backfill]:
    """Save loops over, and update() calls on, querysets that cover the whole table."""
    parents = {child: parent for parent in ast.walk(function)
               for child in ast.iter_child_nodes(parent)}
    aliases: dict[str, Queryset] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            queryset = whole_table(node.value, {})
            if queryset is not None:
                aliases[node.targets[0].id] = queryset
    found: list[Backfill] = []
    for node in ast.walk(function):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            queryset = whole_table(node.iter, aliases)
            if queryset is not None and _saves(node, node.target.id):
                found.append(Backfill("save-loop", node, queryset, _in_atomic(node, parents)))
            elif queryset is not None and _bulk_updates(function, queryset.model_var):
                found.append(Backfill("bulk-update", node, queryset, _in_atomic(node, parents)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "update"):
            queryset = whole_table(node.func.value, aliases) or backfill_filter(
                node.func.value, {k.arg: k.value for k in node.keywords if k.arg})
            statement = _statement_of(node, parents)
            if queryset is not None and statement is not None:
                found.append(Backfill("update", statement, queryset, _in_atomic(node, parents)))
    return found


def _bulk_updates(function: ast.FunctionDef, model_var: str) -> bool:
    """Whether the function calls `<model_var>.objects.bulk_update(...)` anywhere."""
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "bulk_update" and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr in MANAGERS and isinstance(node.func.value.value, ast.Name)
        and node.func.value.value.id == model_var
        for node in ast.walk(function)
    )


def _selects_not_done(method: str, keyword: ast.keyword, updated: dict[str, ast.expr]) -> bool:
    """`filter(f=None)`, `filter(f="")`, `filter(f__isnull=True)` or `exclude(f=<the new value>)`."""
    name, _, lookup = (keyword.arg or "").partition("__")
    if name not in updated or not isinstance(keyword.value, ast.Constant):
        return False
    value = keyword.value.value
    if method == "exclude":
        new = updated[name]
        return not lookup and isinstance(new, ast.Constant) and new.value == value
    return (lookup == "isnull" and value is True) or (not lookup and value in (None, ""))


def backfill_filter(expr: ast.expr, updated: dict[str, ast.expr]) -> Queryset | None:
    """`Model.objects.filter(f=None).update(f=...)`: only the rows not done yet.

    A filter that selects the rows where a field the update sets is still
    empty (or not yet the new value) is a backfill: for a column just added
    that is every row of the table, in one statement. Other filters are not
    judged (lint cannot tell how many rows match).
    """
    filters: list[str] = []
    on_updated = False
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        method = expr.func.attr
        if method in {"filter", "exclude"}:
            if expr.args or not expr.keywords:
                return None
            on_updated = on_updated or any(_selects_not_done(method, k, updated) for k in expr.keywords)
            filters.insert(0, "." + ast.unparse(expr).rpartition(").")[2]
                           if ")." in ast.unparse(expr) else _method_call(ast.unparse(expr)))
        elif method not in WHOLE_TABLE_METHODS:
            return None
        expr = expr.func.value
    if not on_updated or not (isinstance(expr, ast.Attribute) and expr.attr in MANAGERS
                              and isinstance(expr.value, ast.Name)):
        return None
    return Queryset(expr.value.id, filters=filters)


def whole_table(expr: ast.expr, aliases: dict[str, Queryset]) -> Queryset | None:
    """The queryset `expr` builds when it covers every row (no filter, exclude or slice)."""
    kept: list[str] = []
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        method = expr.func.attr
        if method not in WHOLE_TABLE_METHODS:
            return None
        if method in KEPT_METHODS:
            kept.insert(0, ast.unparse(expr))
        expr = expr.func.value
    if isinstance(expr, ast.Name) and expr.id in aliases:
        alias = aliases[expr.id]
        return Queryset(alias.model_var, alias.kept + kept)
    if (isinstance(expr, ast.Attribute) and expr.attr in MANAGERS
            and isinstance(expr.value, ast.Name)):
        return Queryset(expr.value.id, [_method_call(text) for text in kept])
    return None


def _method_call(unparsed: str) -> str:
    """`.only("a")` from `Order.objects.only("a")`: the last call of an unparsed chain."""
    depth = 0
    for index in range(len(unparsed) - 1, -1, -1):
        char = unparsed[index]
        depth += {")": 1, "(": -1}.get(char, 0)
        if char == "." and depth == 0:
            return unparsed[index:]
    return ""


def _saves(loop: ast.For, variable: str) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "save" and isinstance(node.func.value, ast.Name)
        and node.func.value.id == variable
        for statement in loop.body for node in ast.walk(statement)
    )


def _in_atomic(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside `with transaction.atomic():` or `with atomic():`."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                target = call.func if isinstance(call, ast.Call) else call
                name = target.attr if isinstance(target, ast.Attribute) else getattr(
                    target, "id", "")
                if name == "atomic":
                    return True
    return False


def _statement_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.stmt | None:
    while node in parents and not isinstance(node, ast.stmt):
        node = parents[node]
    return node if isinstance(node, ast.stmt) else None


def _get_model_calls(function: ast.FunctionDef, app_label: str) -> dict[str, tuple[str, str]]:
    """`Order = apps.get_model("shop", "Order")` -> {"Order": ("shop", "Order")}."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(function):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "get_model"):
            continue
        args = [a.value for a in call.args if isinstance(a, ast.Constant)
                and isinstance(a.value, str)]
        if len(args) == 2:
            found[node.targets[0].id] = (args[0], args[1])
        elif len(args) == 1 and "." in args[0]:
            app, model = args[0].split(".", 1)
            found[node.targets[0].id] = (app, model)
    return found


def _table(ctx: OperationContext, app: str, model: str) -> str:
    state = find_model(ctx.state, app, model)
    length = ctx.profile.max_name_length()
    return table_of(state, length) if state is not None else default_table_name(app, model, length)


# Rendering the batched version ---------------------------------------------------------

def _batched_python(ctx: OperationContext, op: migrations.RunPython, source: MigrationSource,
                    function: ast.FunctionDef, backfill: Backfill, app: str, model: str,
                    table: str) -> str | None:
    """The user's function with the whole-table rewrite replaced by a batch loop."""
    args = [a.arg for a in function.args.args]
    if len(args) < 2:
        return None
    if backfill.kind == "bulk-update":
        return None  # its batching is the user's own code: the docstring shows the loop to write
    block = (_save_loop_block(ctx, backfill, source, app, model, table, function.name, args[1])
             if backfill.kind == "save-loop"
             else _update_block(backfill, source, table, function.name, args[1]))
    if block is None:
        return None
    lines = source.text.splitlines()
    statement = backfill.node
    start, end = statement.lineno, statement.end_lineno or statement.lineno
    indent = " " * statement.col_offset
    new_lines = (lines[function.lineno - 1:start - 1]
                 + textwrap.indent(block, indent).splitlines()
                 + lines[end:function.end_lineno or end])
    function_text = "\n".join(new_lines)
    blocks = [_constants(block)]
    blocks += [function_text if s is function else source.segment(s) or ""
               for s in source.code_for(function)]
    reverse: render.Code = render.raw("migrations.RunPython.noop")
    reverse_found = function_source(op.reverse_code) if op.reverse_code is not None else None
    if reverse_found is not None and reverse_found[0] is source:
        reverse = render.raw(reverse_found[1].name)
        blocks += [source.segment(s) or "" for s in source.code_for(reverse_found[1])
                   if s is not function]
    text = render.migration(
        [render.call("migrations.RunPython", render.raw(function.name), reverse_code=reverse)],
        dependencies=ctx.migration.dependencies,
        atomic=False,
    )
    return render.with_code(text, *dict.fromkeys(blocks), imports=[*_IMPORTS,
                                                                  *source.import_lines()])


def _loop_prologue(model_var: str, rows_filter: str, kept: list[str], editor: str) -> str:
    comment = (
        "# Only rows still to do, so a rerun after a failure carries on where it stopped.\n"
        if rows_filter else
        "# To resume after a failure, set RESUME_AFTER_PK to the last pk printed.\n"
    )
    return (
        f"db = {editor}.connection.alias\n"
        + comment
        + f"rows = {model_var}.objects.using(db){''.join(kept)}{rows_filter}.order_by(\"pk\")\n"
        + ("last_pk = None\n" if rows_filter else "last_pk = RESUME_AFTER_PK\n")
        +
        "done = 0\n"
        "while True:\n"
        "    page = rows if last_pk is None else rows.filter(pk__gt=last_pk)\n"
    )


def _constants(block: str) -> str:
    """Module-level settings the batch loop reads."""
    if "RESUME_AFTER_PK" in block:
        return "BATCH_SIZE = 1000\nRESUME_AFTER_PK = None"
    return "BATCH_SIZE = 1000"


def _literal(value: object) -> str:
    """A Python literal in the double-quoted style of formatted code."""
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"


def _progress(function: str, table: str) -> str:
    return (
        "    done += len(batch)\n"
        f'    print(f"{function}: {{done}} rows of {table} done, up to pk {{last_pk}}")\n'
    )


def _save_loop_block(ctx: OperationContext, backfill: Backfill, source: MigrationSource,
                     app: str, model: str, table: str, function: str, editor: str) -> str | None:
    loop = backfill.node
    assert isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
    variable = loop.target.id
    body_start = (loop.iter.end_lineno or loop.lineno) + 1
    body_end = loop.end_lineno or loop.lineno
    saves = [s for s in loop.body if _is_save(s, variable)]
    fields = _assigned_fields(loop, variable) or _update_fields(saves)
    drop: set[int] = set()
    if len(saves) == 1 and fields and not any(
            _saves(n, variable) for n in ast.walk(loop) if isinstance(n, ast.For) and n is not loop):
        save = saves[0]
        drop = set(range(save.lineno, (save.end_lineno or save.lineno) + 1))
    lines = source.text.splitlines()
    body = [lines[n - 1] for n in range(body_start, body_end + 1) if n not in drop]
    body_text = textwrap.dedent("\n".join(body)).strip("\n")
    if not body_text.strip() or all(line.strip().startswith("#") for line in body_text.split("\n")
                                    if line.strip()):
        body_text += "\npass"
    rows_filter = _not_done(ctx, loop, variable, app, model, fields)
    model_var = backfill.queryset.model_var
    write = (f"        {model_var}.objects.using(db).bulk_update(batch, {_list(fields)})\n"
             if drop else "")
    return (
        _loop_prologue(model_var, rows_filter, backfill.queryset.kept, editor)
        + "    batch = list(page[:BATCH_SIZE])\n"
        "    if not batch:\n"
        "        break\n"
        "    with transaction.atomic(using=db):\n"
        f"        for {variable} in batch:\n"
        + textwrap.indent(body_text, " " * 12) + "\n"
        + write
        + "    last_pk = batch[-1].pk\n"
        + _progress(function, table)
    )


def _is_save(statement: ast.stmt, variable: str) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Attribute)
            and statement.value.func.attr == "save"
            and isinstance(statement.value.func.value, ast.Name)
            and statement.value.func.value.id == variable)


def _assigned_fields(loop: ast.For, variable: str) -> list[str]:
    """Attributes the loop assigns on the row: `order.reference = ...` -> ["reference"]."""
    fields: list[str] = []
    for node in ast.walk(loop):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id == variable and target.attr not in fields):
                fields.append(target.attr)
    return fields


def _update_fields(saves: list[ast.stmt]) -> list[str]:
    for statement in saves:
        call = statement.value if isinstance(statement, ast.Expr) else None
        for keyword in call.keywords if isinstance(call, ast.Call) else ():
            if keyword.arg == "update_fields" and isinstance(keyword.value, ast.List | ast.Tuple):
                return [e.value for e in keyword.value.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _not_done(ctx: OperationContext, loop: ast.For, variable: str, app: str, model: str,
              fields: list[str]) -> str:
    """A filter for rows the loop has not written yet, when one field tells."""
    if len(fields) != 1:
        return ""
    name = fields[0]
    for node in ast.walk(loop):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(isinstance(t, ast.Attribute) and t.attr == name for t in node.targets)):
            return f".exclude({name}={_literal(node.value.value)})"
    state = find_model(ctx.state, app, model)
    model_field = state.fields.get(name) if state is not None else None
    if model_field is not None and getattr(model_field, "null", False):
        return f".filter({name}__isnull=True)"
    return ""


def _update_block(backfill: Backfill, source: MigrationSource, table: str, function: str,
                  editor: str) -> str | None:
    call = next((n for n in ast.walk(backfill.node) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "update"), None)
    if call is None or call.args or not isinstance(backfill.node, ast.Expr | ast.Assign):
        return None
    arguments = ", ".join(source.segment(k) or "" for k in call.keywords)
    constants = {k.arg: k.value.value for k in call.keywords
                 if k.arg and isinstance(k.value, ast.Constant)}
    rows_filter = "".join(backfill.queryset.filters)
    if not rows_filter and constants and len(constants) == len(call.keywords):
        rows_filter = ".exclude(" + ", ".join(f"{k}={_literal(v)}" for k, v in constants.items()) + ")"
    model_var = backfill.queryset.model_var
    return (
        _loop_prologue(model_var, rows_filter, [], editor)
        + '    batch = list(page.values_list("pk", flat=True)[:BATCH_SIZE])\n'
        "    if not batch:\n"
        "        break\n"
        "    with transaction.atomic(using=db):\n"
        f"        {model_var}.objects.using(db).filter(pk__in=batch).update({arguments})\n"
        "    last_pk = batch[-1]\n"
        + _progress(function, table)
    )


def _batched_sql(ctx: SqlContext, stmt: Any, table: str) -> str | None:
    """A RunPython running the UPDATE over primary key ranges, each range committed alone."""
    model = ctx.model_for_table(table)
    key = "id"
    if model is not None:
        for name, model_field in model.fields.items():
            if getattr(model_field, "primary_key", False):
                if type(model_field).__name__ not in INTEGER_KEYS:
                    return None
                key = ctx.column(name, model_field) or name
    if "ParamRef" in repr(stmt):
        return None
    conditions: list[str] = []
    for target in stmt.targetList or ():
        value = target.val
        if not isinstance(value, pg.A_Const) or target.indirection:
            conditions = []
            break
        column = target.name
        conditions.append(f"{column} IS NOT NULL" if value.isnull else
                          f"({column} <> {RawStream()(value)} OR {column} IS NULL)")
    where = f"{key} BETWEEN $1001 AND $1002"
    if conditions:
        where += f" AND ({' OR '.join(conditions)})" if len(conditions) > 1 else (
            f" AND {conditions[0]}")
    select: Any = parse_sql(f"SELECT 1 WHERE {where}")[0].stmt
    stmt.whereClause = select.whereClause
    try:
        statement = RawStream()(stmt)
    finally:
        stmt.whereClause = None
    statement = statement.replace("%", "%%").replace("$1001", "%s").replace("$1002", "%s")
    function = f"backfill_{table}"
    code = (
        f"def {function}(apps, schema_editor):\n"
        "    db = schema_editor.connection.alias\n"
        "    connection = schema_editor.connection\n"
        "    with connection.cursor() as cursor:\n"
        f'        cursor.execute("SELECT MIN({key}), MAX({key}) FROM {table}")\n'
        "        low, high = cursor.fetchone()\n"
        "    if low is None:\n"
        "        return\n"
        "    for start in range(low, high + 1, BATCH_SIZE):\n"
        "        end = start + BATCH_SIZE - 1\n"
        "        with transaction.atomic(using=db), connection.cursor() as cursor:\n"
        "            # Rows already done are skipped, so a rerun is cheap.\n"
        "            cursor.execute(UPDATE_BATCH, [start, end])\n"
        f'        print(f"{function}: {key} up to {{min(end, high)}} of {{high}} done")\n'
    )
    if not conditions:
        code = code.replace("            # Rows already done are skipped, so a rerun is cheap.\n",
                            "")
    text = render.migration(
        [render.call("migrations.RunPython", render.raw(function),
                     reverse_code=render.raw("migrations.RunPython.noop"))],
        dependencies=ctx.migration.dependencies,
        atomic=False,
    )
    return render.with_code(text, f"BATCH_SIZE = 1000\nUPDATE_BATCH = {statement!r}", code,
                            imports=_IMPORTS)
