"""Migration code that branches on the database vendor, linted for another vendor than the settings'.

## What it does
When `pilot lint --vendor X` is run with settings whose database is another
vendor, flags each `RunPython` whose function reads the connection's vendor
(`schema_editor.connection.vendor`, `connection.vendor`), and each migration
that picks its operations by `connection.vendor` when its module is loaded.
Such code takes a different path on each database, and lint judged the
migration for X (a migration that picks its operations at load time was
even loaded with the operations of the settings' vendor).

## Why is this dangerous?
The findings (and their absence) describe the database named by `--vendor`.
A function that does one thing on PostgreSQL and another on SQLite or MySQL
may run the branch lint did not consider when the migration is applied with
these settings, or skip the branch lint did consider. A clean lint result is
then no evidence for the database the code will really meet.

## Safe alternative
Lint with the settings of the database you deploy to (no `--vendor`, or the
`--database` alias of that database), and lint once per vendor the project
targets. Code that must differ per vendor is clearer as separate operations
guarded by `migrations.RunSQL` per vendor or by a check at the top:

    from django.db import migrations


    def fill(apps, schema_editor):
        Order = apps.get_model("testapp", "Order")
        Order.objects.filter(note="").update(note="-")


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunPython(fill, migrations.RunPython.noop),
        ]

## Not flagged
- Lint runs for the vendor of the settings' database (no `--vendor`, or the
  same one): the branch lint considers is the one taken.
- Functions migration_pilot cannot read (lambdas, compiled code).

## Databases
All.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from django.db import migrations

from migration_pilot.analysis.source import function_source
from migration_pilot.diagnostics import Severity
from migration_pilot.lint.context import MigrationContext, OperationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, category="meta", added_in="0.2.0")


def reads_vendor(tree: ast.AST) -> bool:
    """Whether the code reads `<something>.connection.vendor` or `connection.vendor`."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "vendor"):
            continue
        owner = node.value
        if (isinstance(owner, ast.Attribute) and owner.attr == "connection") or (
                isinstance(owner, ast.Name) and owner.id == "connection"):
            return True
    return False


@rule.on(migrations.RunPython)
def check(ctx: OperationContext, op: migrations.RunPython) -> Iterator[Finding]:
    if ctx.settings_vendor is None:
        return
    for code in (op.code, op.reverse_code):
        found = function_source(code) if code is not None else None
        if found is None or not reads_vendor(found[1]):
            continue
        yield Finding(
            message=(f"RunPython {found[1].name} in {ctx.app_label}.{ctx.migration.name} branches"
                     f" on the database vendor; this lint judged it for {ctx.vendor} (--vendor),"
                     f" but the settings' database is {ctx.settings_vendor}, where it may take"
                     " another path."),
            hint=(f"Lint with the settings of the database you deploy to, once per vendor the"
                  f" project targets (without --vendor, or with --vendor {ctx.settings_vendor})."),
        )
        return


@rule.on_migration
def check_module(ctx: MigrationContext) -> Iterator[Finding]:
    if ctx.load_vendor is None:
        return
    source = ctx.migration.source()
    tree = source.tree if source is not None else None
    if tree is None:
        return
    loaded_code = [node for node in ast.walk(tree)
                   if isinstance(node, ast.If | ast.IfExp | ast.Match)
                   and not _inside_function(node, tree) and reads_vendor(node)]
    if not loaded_code:
        return
    name = f"{ctx.migration.app_label}.{ctx.migration.name}"
    yield Finding(
        message=(f"Migration {name} picks its operations by the database vendor when it is"
                 f" loaded: lint loaded those for {ctx.load_vendor} (the settings' default"
                 f" database) and judged them for {ctx.vendor}."),
        hint=(f"Lint with settings whose default database is {ctx.vendor}, once per vendor the"
              " project targets."),
    )


def _inside_function(node: ast.AST, tree: ast.AST) -> bool:
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and any(
                child is node for child in ast.walk(function)):
            return True
    return False
