"""Text rendering of a Plan."""

from __future__ import annotations

from migration_pilot.plan.build import Plan
from migration_pilot.plan.sizes import TableSize


def _size(size: TableSize | None) -> str:
    if size is None:
        return "new"
    rows = "? rows" if size.rows is None else f"~{size.rows:,} rows"
    if size.bytes is None:
        return rows
    return f"{rows}, {size.bytes / 1_048_576:.1f} MiB"


def render_plan_text(plan: Plan, *, sql: bool = True) -> str:
    """Human-readable plan, one block per migration."""
    lines: list[str] = []
    if not plan.migrations:
        return f"Nothing to migrate on {plan.alias} ({plan.vendor}): every migration is applied.\n"
    direction = "unapply" if plan.backwards else "apply"
    lines.append(f"Plan for {plan.alias} ({plan.vendor}): {direction} {len(plan.migrations)} migration(s).")
    for m in plan.migrations:
        arrow = "<-" if m.backwards else "->"
        flags = [f"risk {m.risk}", "atomic" if m.atomic else "NOT atomic",
                 "reversible" if m.reversible else "IRREVERSIBLE"]
        if m.estimated_s is not None:
            flags.append(f"took {m.estimated_s:.1f}s last time")
        lines.append("")
        lines.append(f"{arrow} {m.app}.{m.name}  [{', '.join(flags)}]")
        for op in m.operations:
            lines.append(f"   {op.index}. {op.description}")
            for lock in op.locks:
                size = _size(m.tables.get(lock.table)) if lock.table not in m.new_tables else "new table"
                lines.append(f"      lock: {lock.describe()} [{size}]")
            if op.rollback is not None:
                # Backwards plans run these reverses now; forwards, it is what a later rollback would do.
                lines.append(f"      {'reverse' if m.backwards else 'rollback'}: {op.rollback.describe()}")
        for finding in m.findings:
            handled = " (pilot deploy runs it in its online form)" if plan.handled_online(finding) else ""
            lines.append(f"   ! {finding.rule} [{finding.severity.label}]: {finding.message}{handled}")
        for reason in m.online:
            lines.append(f"   online: {reason}")
        if sql:
            if m.sql_error:
                lines.append(f"   SQL unavailable from the live database: {m.sql_error}")
            if m.sql_source == "shadow":
                lines.append("   (SQL captured while applying the plan to a shadow database: the schema editor"
                             " needs objects earlier migrations of this plan create)")
            statements = m.backward_sql if m.backwards else m.forward_sql
            for statement in statements or []:
                lines.append(f"   sql> {statement}")
            if not m.backwards:
                if m.backward_sql is None and m.backward_sql_note:
                    lines.append(f"   rollback: reversible; {m.backward_sql_note}")
                elif m.backward_sql is None:
                    lines.append("   rollback: IRREVERSIBLE (no reverse for at least one operation)")
                elif m.backward_sql:
                    lines.append(f"   rollback: {len(m.backward_sql)} statement(s)")
    blocking = [d for d in plan.findings if d.severity.label == "error"]
    online = sum(1 for d in blocking if plan.handled_online(d))
    lines.append("")
    lines.append(f"{len(plan.migrations)} migration(s); {len(blocking)} lint error(s) judged against live table sizes"
                 + (f" ({online} of them run in their online form in pilot deploy)." if online else "."))
    return "\n".join(lines) + "\n"
