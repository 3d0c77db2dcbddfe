"""Fixes for a project that targets more than PostgreSQL: portable, or withheld with a reason.

Rules that guard PostgreSQL locks write their fixes with PostgreSQL-only tools
(`AddIndexConcurrently`, `NOT VALID`, `CREATE INDEX CONCURRENTLY` in RunSQL).
Copied into a project that also migrates MySQL/MariaDB or SQLite, such a fix
stops the deploy there half-way. So before a fix is shown it is made portable
where a vendor-aware operation does the same (migration_pilot's
`AddIndexOnline`/`RemoveIndexOnline`: concurrently on PostgreSQL, plainly
elsewhere), and otherwise withheld, with the reason added to the hint.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# PostgreSQL-only operation -> the vendor-aware operation with the same arguments and effect.
PORTABLE = {
    "AddIndexConcurrently": "AddIndexOnline",
    "RemoveIndexConcurrently": "RemoveIndexOnline",
}
_POSTGRESQL_ONLY = re.compile(
    r"\b(?:AddIndexConcurrently|RemoveIndexConcurrently|AddConstraintNotValid|ValidateConstraint)\b"
    r"|\bCONCURRENTLY\b|\bNOT\s+VALID\b|\bVALIDATE\s+CONSTRAINT\b|\bUSING\s+INDEX\b",
    re.IGNORECASE,
)
_POSTGRES_IMPORT = re.compile(r"^from django\.contrib\.postgres\.operations import (.+)$", re.MULTILINE)


def postgresql_only(fix: str) -> str | None:
    """The first PostgreSQL-only construct the fix's code uses (comments aside), or None."""
    for line in fix.splitlines():
        if line.lstrip().startswith("#"):
            continue
        found = _POSTGRESQL_ONLY.search(line)
        if found:
            return found.group(0)
    return None


def _portable(fix: str) -> str:
    """`fix` with each operation of PORTABLE replaced by its vendor-aware twin, imports included."""
    def imports(match: re.Match[str]) -> str:
        names = [name.strip() for name in match.group(1).split(",")]
        kept = [name for name in names if name not in PORTABLE]
        online = sorted(PORTABLE[name] for name in names if name in PORTABLE)
        lines = [f"from django.contrib.postgres.operations import {', '.join(kept)}"] if kept else []
        if online:
            lines.append(f"from migration_pilot.operations import {', '.join(online)}")
        return "\n".join(lines)

    text = _POSTGRES_IMPORT.sub(imports, fix)
    for postgresql, online in PORTABLE.items():
        text = re.sub(rf"\b{postgresql}\(", f"{online}(", text)
    return text


def for_vendors(fix: str | None, vendors: Collection[str]) -> tuple[str | None, str | None]:
    """The fix to show for a project that targets `vendors`, and why it is withheld (or None).

    On a PostgreSQL-only project the fix is unchanged. Elsewhere a fix whose only
    PostgreSQL-only parts have a vendor-aware twin gets the twin; any other
    PostgreSQL-only fix is withheld.
    """
    others = sorted(set(vendors) - {"postgresql"})
    if fix is None or not others or postgresql_only(fix) is None:
        return fix, None
    portable = _portable(fix)
    construct = postgresql_only(portable)
    if construct is None:
        return portable, None
    return None, (f"No fix is given: the safe form uses {construct}, which only PostgreSQL runs, and this"
                  f" project also targets {', '.join(others)}; write it per vendor (RunPython reading"
                  " schema_editor.connection.vendor) or use migration_pilot's *Online operations.")
