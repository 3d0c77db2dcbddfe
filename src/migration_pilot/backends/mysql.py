"""MySQL/MariaDB (InnoDB) online DDL behaviour.

https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html
https://mariadb.com/kb/en/innodb-online-ddl-overview/
Every DDL statement commits implicitly: a migration with several is not atomic.
"""

from __future__ import annotations

from typing import Final

from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.plan.locks import READS_AND_WRITES, WRITES, Blocks, LockImpact, LockMode

_ONLINE = (LockMode.MYSQL_ONLINE, Blocks.DDL)
_COPY = (LockMode.MYSQL_SHARED, WRITES)
_LOCKS: Final[dict[DDL, tuple[LockMode, Blocks, bool, bool]]] = {
    DDL.ADD_COLUMN: (*_ONLINE, False, False),
    DDL.ADD_COLUMN_REWRITE: (*_COPY, True, False),
    DDL.DROP_COLUMN: (*_ONLINE, True, False),
    DDL.ALTER_TYPE: (*_COPY, True, False),
    DDL.ALTER_TYPE_METADATA: (*_ONLINE, False, False),
    DDL.SET_NOT_NULL: (*_ONLINE, True, True),
    DDL.CREATE_INDEX: (*_ONLINE, False, True),
    DDL.CREATE_INDEX_CONCURRENTLY: (*_ONLINE, False, True),
    DDL.DROP_INDEX: (*_ONLINE, False, False),
    DDL.DROP_INDEX_CONCURRENTLY: (*_ONLINE, False, False),
    DDL.REINDEX: (*_ONLINE, True, False),
    DDL.ADD_FOREIGN_KEY: (*_COPY, True, True),
    DDL.ADD_CHECK: (*_COPY, True, True),
    DDL.ADD_UNIQUE: (*_ONLINE, False, True),
    DDL.ADD_EXCLUSION: (LockMode.MYSQL_EXCLUSIVE, READS_AND_WRITES, True, True),
    DDL.VALIDATE_CONSTRAINT: (*_COPY, False, True),
    DDL.RENAME: (LockMode.MYSQL_EXCLUSIVE, READS_AND_WRITES, False, False),
    DDL.DROP_TABLE: (LockMode.MYSQL_EXCLUSIVE, READS_AND_WRITES, False, False),
    DDL.UPDATE_ALL_ROWS: (LockMode.MYSQL_ONLINE, WRITES, False, True),  # InnoDB row locks
}


class MySQLProfile(BackendProfile):
    """MySQL and MariaDB with InnoDB: no transactional DDL; COPY rebuilds block writes."""

    vendor = "mysql"
    display_name = "MySQL/MariaDB"
    transactional_ddl = False

    def lock(self, ddl: DDL, table: str) -> LockImpact:
        """InnoDB's documented algorithm and lock level for `ddl`."""
        mode, blocks, rewrites, scans = _LOCKS[ddl]
        return LockImpact(mode, blocks, table, rewrites=rewrites, scans=scans)

    def max_name_length(self) -> int:
        """MySQL identifiers are limited to 64 characters."""
        return 64
