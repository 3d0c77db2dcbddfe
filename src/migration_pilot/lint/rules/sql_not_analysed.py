"""RunSQL that migration_pilot cannot parse or judge.

## What it does
Reports RunSQL whose SQL the PostgreSQL parser rejects (including SQL written
for another database), and DO blocks whose procedural code cannot be judged.

## Why is this dangerous?
Raw SQL can take any lock. A linter that skips what it cannot read gives a
false sense of safety; this finding says exactly what was not checked.

## Safe alternative
Prefer plain statements migration_pilot can read; when the SQL is reviewed and
safe, suppress with a reason:

    # pilot: ignore sql-not-analysed -- MySQL-only syntax, reviewed by the DBA

## Not flagged
- SQL that parses: it is checked statement by statement by the other rules.

## Databases
All.
"""

from __future__ import annotations

from migration_pilot.diagnostics import Severity
from migration_pilot.lint.registry import Rule

rule = Rule(__name__, severity=Severity.WARNING, category="meta")
