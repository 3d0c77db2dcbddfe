"""RunPython without reverse_code: the migration cannot be unapplied.

## What it does
Flags `RunPython` operations that have no `reverse_code`. A reverse of
`migrations.RunPython.noop` counts as reversible: it says, on purpose, that
nothing needs undoing.

## Why is this dangerous?
Django raises `IrreversibleError` when it has to unapply the migration, so
`migrate app <earlier migration>` stops at this one. That is usually found out
during an incident, when a deploy is being rolled back: the only ways left are
restoring a backup or `migrate --fake`, which leaves the data as the forward
function changed it while Django believes otherwise.
See https://docs.djangoproject.com/en/stable/ref/migration-operations/#runpython

## Safe alternative
Give every RunPython a `reverse_code`: a function that undoes the change, or
`migrations.RunPython.noop` when the forward change can stay (a backfill of a
column that the schema reverse drops anyway):

    from django.db import migrations


    def mark_new_orders_pending(apps, schema_editor):
        Order = apps.get_model("testapp", "Order")
        Order.objects.filter(status="new").update(status="pending")


    def mark_pending_orders_new(apps, schema_editor):
        Order = apps.get_model("testapp", "Order")
        Order.objects.filter(status="pending").update(status="new")


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunPython(
                mark_new_orders_pending,
                reverse_code=mark_pending_orders_new,
            ),
        ]

## Not flagged
- `reverse_code=migrations.RunPython.noop` or any other reverse function.
- `RunSQL` (see `run-sql-irreversible`).

## Databases
All: PostgreSQL, MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations

from migration_pilot.analysis.source import function_source
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, category="data")

HINT = (
    "Add reverse_code: a function that undoes the change, or"
    " migrations.RunPython.noop when nothing needs undoing."
)


def function_name(code: object) -> str:
    """How the user wrote the function: its name, `<lambda>`, or its type."""
    return str(getattr(code, "__name__", type(code).__name__))


@rule.on(migrations.RunPython)
def check_run_python(ctx: OperationContext, op: migrations.RunPython) -> Iterator[Finding]:
    if op.reverse_code is not None:
        return
    name = function_name(op.code)
    yield Finding(
        message=(
            f"RunPython {name} in {ctx.app_label}.{ctx.migration.name} has no reverse_code,"
            " so the migration cannot be unapplied and a rollback stops there."
        ),
        hint=HINT,
        safe_alternative=_with_noop_reverse(ctx, op, name),
    )


def _with_noop_reverse(ctx: OperationContext, op: migrations.RunPython, name: str) -> str | None:
    """The same migration step with `reverse_code=migrations.RunPython.noop`, function included."""
    found = function_source(op.code)
    if found is None:
        return None
    source, node = found
    blocks = [source.segment(statement) or "" for statement in source.code_for(node)]
    options: dict[str, object] = {"reverse_code": render.raw("migrations.RunPython.noop")}
    if op.atomic is not None:
        options["atomic"] = op.atomic
    text = render.migration(
        [render.call("migrations.RunPython", render.raw(name), **options)],
        dependencies=ctx.migration.dependencies,
        atomic=ctx.migration.atomic,
    )
    return render.with_code(text, *blocks, imports=source.import_lines())
