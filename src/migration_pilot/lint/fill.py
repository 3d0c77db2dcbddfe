"""The post-deploy migration a staged AddField fix ends with: fill the empty rows in committed batches.

add-field-not-null and add-field-rewrites-table both add the column empty in
deploy 1 and fill it in deploy 2; the fill is the same loop (keyset-free,
`pk__in` batches of BATCH rows, each committed on its own in a non-atomic
migration) with a different value and a different reason in its comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from migration_pilot.lint import render

BATCH: Final = 1000
"""Rows per UPDATE: small enough that each batch's row locks are held for milliseconds."""


def fill_migration(ctx: Any, op: Any, value: str, imports: Iterable[str], why: Sequence[str]) -> str:
    """The migration text: a RunPython that sets `op.name` to `value` (Python source) where it is NULL.

    `why` is the comment above the loop, one string per line.
    """
    function = f"fill_{op.name}"
    comment = "\n".join(f"    # {line}" for line in why)
    code = f"""def {function}(apps, schema_editor):
{comment}
    rows = apps.get_model({ctx.app_label!r}, {op.model_name!r}).objects.using(schema_editor.connection.alias)
    while True:
        batch = list(rows.filter({op.name}__isnull=True).values_list("pk", flat=True)[:{BATCH}])
        if not batch:
            break
        rows.filter(pk__in=batch).update({op.name}={value})"""
    run = render.call("migrations.RunPython", render.raw(function),
                      reverse_code=render.raw("migrations.RunPython.noop"))
    text = render.migration([run], dependencies=[(ctx.app_label, ctx.migration.name)], atomic=False,
                            phase="post", comment=f"Save as {ctx.migration.name}_fill_{op.name}.py.")
    return render.with_code(text, code, imports=sorted(imports))
