"""PostgreSQL lock behaviour, from the "Explicit Locking" and ALTER TABLE docs.

https://www.postgresql.org/docs/current/explicit-locking.html
https://www.postgresql.org/docs/current/sql-altertable.html
"""

from __future__ import annotations

from typing import Final

from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.plan.locks import READS_AND_WRITES, WRITES, Blocks, LockImpact, LockMode

DEFAULT_PG_VERSION: Final = 14
"""The oldest PostgreSQL release still supported upstream: the safe default for version gates."""

_AE = (LockMode.ACCESS_EXCLUSIVE, READS_AND_WRITES)
_LOCKS: Final[dict[DDL, tuple[LockMode, Blocks, bool, bool]]] = {
    # ddl: (mode, blocks, rewrites, scans)
    DDL.ADD_COLUMN: (*_AE, False, False),
    DDL.ADD_COLUMN_REWRITE: (*_AE, True, False),
    DDL.DROP_COLUMN: (*_AE, False, False),
    DDL.ALTER_TYPE: (*_AE, True, False),
    DDL.ALTER_TYPE_METADATA: (*_AE, False, False),
    DDL.SET_NOT_NULL: (*_AE, False, True),
    DDL.CREATE_INDEX: (LockMode.SHARE, WRITES, False, True),
    DDL.CREATE_INDEX_CONCURRENTLY: (LockMode.SHARE_UPDATE_EXCLUSIVE, Blocks.DDL, False, True),
    DDL.DROP_INDEX: (*_AE, False, False),
    DDL.DROP_INDEX_CONCURRENTLY: (LockMode.SHARE_UPDATE_EXCLUSIVE, Blocks.DDL, False, False),
    DDL.REINDEX: (LockMode.SHARE, WRITES, False, True),
    DDL.ADD_FOREIGN_KEY: (LockMode.SHARE_ROW_EXCLUSIVE, WRITES, False, True),
    DDL.ADD_CHECK: (*_AE, False, True),
    DDL.ADD_UNIQUE: (*_AE, False, True),
    DDL.ADD_EXCLUSION: (*_AE, False, True),
    DDL.VALIDATE_CONSTRAINT: (LockMode.SHARE_UPDATE_EXCLUSIVE, Blocks.DDL, False, True),
    DDL.RENAME: (*_AE, False, False),
    DDL.DROP_TABLE: (*_AE, False, False),
    DDL.UPDATE_ALL_ROWS: (LockMode.ROW_EXCLUSIVE, WRITES, False, True),  # row locks on every row
}


class PostgreSQLProfile(BackendProfile):
    """PostgreSQL: transactional DDL, CONCURRENTLY index builds, NOT VALID constraints."""

    vendor = "postgresql"
    display_name = "PostgreSQL"
    transactional_ddl = True

    def __init__(self, version: int | None = None) -> None:
        super().__init__(version or DEFAULT_PG_VERSION)

    @property
    def major(self) -> int:
        """Major server version the rules judge against (``--pg-version``)."""
        return self.version or DEFAULT_PG_VERSION

    def lock(self, ddl: DDL, table: str) -> LockImpact:
        """The documented lock for `ddl`; UPDATE of every row holds row locks, not a table lock."""
        mode, blocks, rewrites, scans = _LOCKS[ddl]
        return LockImpact(mode, blocks, table, rewrites=rewrites, scans=scans)

    def constant_default_rewrites(self) -> bool:
        """Before PostgreSQL 11, ADD COLUMN with any DEFAULT rewrote the table."""
        return self.major < 11

    def supports_reindex_concurrently(self) -> bool:
        """REINDEX ... CONCURRENTLY exists from PostgreSQL 12."""
        return self.major >= 12

    def not_null_uses_check_constraint(self) -> bool:
        """From PostgreSQL 12, SET NOT NULL skips the scan when a validated CHECK proves it."""
        return self.major >= 12
