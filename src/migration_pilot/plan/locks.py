"""The shared lock vocabulary: LockMode, Blocks and LockImpact.

Lint messages, plans, generated docs and metrics all describe locks with these
three names, so a user reads the same words everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, Flag
from typing import Any


class LockMode(Enum):
    """A lock a DDL statement takes, named as the database's documentation names it."""

    # PostgreSQL table-level lock modes (https://www.postgresql.org/docs/current/explicit-locking.html)
    ACCESS_SHARE = "ACCESS SHARE"
    ROW_SHARE = "ROW SHARE"
    ROW_EXCLUSIVE = "ROW EXCLUSIVE"
    SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
    SHARE = "SHARE"
    SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
    EXCLUSIVE = "EXCLUSIVE"
    ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
    # MySQL/MariaDB: online DDL keeps DML going; a COPY rebuild does not.
    MYSQL_ONLINE = "metadata lock (online DDL, LOCK=NONE)"
    MYSQL_SHARED = "metadata lock with table copy (LOCK=SHARED)"
    MYSQL_EXCLUSIVE = "exclusive metadata lock (LOCK=EXCLUSIVE)"
    # SQLite: schema changes take the database write lock.
    SQLITE_WRITE = "database write lock"


class Blocks(Flag):
    """What other sessions cannot do while the lock is held."""

    NOTHING = 0
    DDL = 1
    WRITES = 2
    READS = 4

    def describe(self) -> str:
        """Plain words: 'reads and writes', 'writes', 'other schema changes' or 'nothing'."""
        if Blocks.READS in self and Blocks.WRITES in self:
            return "reads and writes"
        if Blocks.WRITES in self:
            return "writes"
        if Blocks.READS in self:
            return "reads"
        if Blocks.DDL in self:
            return "other schema changes only"
        return "nothing"


READS_AND_WRITES = Blocks.READS | Blocks.WRITES | Blocks.DDL
WRITES = Blocks.WRITES | Blocks.DDL


@dataclass(frozen=True, slots=True)
class LockImpact:
    """A lock on one table and its consequence, e.g. SHARE on shop_order blocking writes."""

    mode: LockMode
    blocks: Blocks
    table: str
    rewrites: bool = False
    scans: bool = False

    def describe(self) -> str:
        """'SHARE lock on shop_order (blocks writes)', with rewrite/scan noted."""
        how = []
        if self.rewrites:
            how.append("rewrites the table")
        elif self.scans:
            how.append("scans the table")
        suffix = f"; {', '.join(how)}" if how else ""
        name = self.mode.value if "lock" in self.mode.value else f"{self.mode.value} lock"
        return f"{name} on {self.table} (blocks {self.blocks.describe()}{suffix})"

    def to_json(self) -> dict[str, Any]:
        """JSON form used by every machine-readable output."""
        return {
            "mode": self.mode.value,
            "table": self.table,
            "blocks": [str(b.name).lower() for b in Blocks if b.value and b in self.blocks],
            "rewrites": self.rewrites,
            "scans": self.scans,
        }
