"""An operation migration_pilot does not know, so its database effect was not checked.

## What it does
Reports, as information, every operation that is neither a Django operation
nor a subclass that keeps its base class's `database_forwards`: custom
operations from third-party packages or the project itself.

## Why is this dangerous?
A custom operation can run any SQL. Guessing from its base class would be
wrong in both directions (zero-downtime libraries subclass `AddIndex` to build
it concurrently), so migration_pilot says what it did not check instead of
staying silent.

## Safe alternative
Review the SQL with `manage.py sqlmigrate app migration`; when it is safe,
say why with a suppression comment above the operation:

    # pilot: ignore unknown-operation -- builds the index concurrently, reviewed

## Not flagged
- Django's own operations and django.contrib.postgres operations.
- Subclasses of them that do not override `database_forwards`.

## Databases
All.
"""

from __future__ import annotations

from migration_pilot.diagnostics import Severity
from migration_pilot.lint.registry import Rule

rule = Rule(__name__, severity=Severity.INFO, category="meta")
