"""SQLite: every schema change takes the database write lock; most ALTERs rebuild the table."""

from __future__ import annotations

from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.plan.locks import WRITES, LockImpact, LockMode


class SQLiteProfile(BackendProfile):
    """SQLite: transactional DDL, one writer at a time, table rebuilds for ALTER."""

    vendor = "sqlite"
    display_name = "SQLite"
    transactional_ddl = True

    def lock(self, ddl: DDL, table: str) -> LockImpact:
        """Readers continue in WAL mode; every other writer waits for the whole change."""
        rebuilds = ddl not in {DDL.ADD_COLUMN, DDL.CREATE_INDEX, DDL.DROP_INDEX, DDL.RENAME}
        return LockImpact(LockMode.SQLITE_WRITE, WRITES, table, rewrites=rebuilds)

    def max_name_length(self) -> int:
        """SQLite has no identifier limit; Django uses none either."""
        return 10_000
