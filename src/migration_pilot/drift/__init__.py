"""Drift detection: is the live database exactly what the migrations and models say?

    from migration_pilot.drift import verify

    result = verify("default")
    for difference in result.findings:
        print(difference.kind, difference.table, difference.object, difference.fix)

Values only; `pilot verify` (cli/subcommands/verify.py) prints them.
"""

from __future__ import annotations

from migration_pilot.drift.catalog import read_catalog
from migration_pilot.drift.compare import compare
from migration_pilot.drift.differences import Difference, VerifyResult
from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table
from migration_pilot.drift.verification import prepare_reference, verify

__all__ = ["Catalog", "Column", "Constraint", "Difference", "Index", "Table", "VerifyResult", "compare",
           "prepare_reference", "read_catalog", "verify"]
