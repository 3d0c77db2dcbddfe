"""A `# pilot: ignore` comment that cannot be honoured.

## What it does
Reports suppression comments that name an unknown rule id (a typo), name no
rule, or give no reason after `--`. Such a comment silences nothing.

## Why is this dangerous?
A misspelled suppression looks like a reviewed decision while the finding it
meant to silence is either still reported or, worse, was meant for another
rule. A suppression without a reason cannot be reviewed later.

## Safe alternative
Name the rule by its id and say why it is safe here:

    # pilot: ignore add-index-non-concurrent -- invoice has under 2k rows

## Not flagged
- Well-formed suppressions, used or not.

## Databases
All.
"""

from __future__ import annotations

from migration_pilot.diagnostics import Severity
from migration_pilot.lint.registry import Rule

rule = Rule(__name__, severity=Severity.ERROR, category="meta")
