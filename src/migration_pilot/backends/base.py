"""Conservative backend profile: what we assume when we know nothing better.

An unknown statement or vendor is assumed to take the strongest lock and block
reads and writes. Vendor modules relax this with what their documentation
guarantees, gated by server version where behaviour changed.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import ClassVar

from migration_pilot.plan.locks import READS_AND_WRITES, LockImpact, LockMode


class DDL(Enum):
    """Kinds of schema change whose locking differs between databases."""

    ADD_COLUMN = auto()
    ADD_COLUMN_REWRITE = auto()
    DROP_COLUMN = auto()
    ALTER_TYPE = auto()
    ALTER_TYPE_METADATA = auto()
    SET_NOT_NULL = auto()
    CREATE_INDEX = auto()
    CREATE_INDEX_CONCURRENTLY = auto()
    DROP_INDEX = auto()
    DROP_INDEX_CONCURRENTLY = auto()
    REINDEX = auto()
    ADD_FOREIGN_KEY = auto()
    ADD_CHECK = auto()
    ADD_UNIQUE = auto()
    ADD_EXCLUSION = auto()
    VALIDATE_CONSTRAINT = auto()
    RENAME = auto()
    DROP_TABLE = auto()
    UPDATE_ALL_ROWS = auto()


class BackendProfile:
    """What a database does for each kind of DDL. Subclasses register by vendor."""

    vendor: ClassVar[str] = "unknown"
    display_name: ClassVar[str] = "an unknown database"
    transactional_ddl: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[BackendProfile]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        BackendProfile.registry[cls.vendor] = cls

    def __init__(self, version: int | None = None) -> None:
        self.version = version

    def lock(self, ddl: DDL, table: str) -> LockImpact:
        """The lock `ddl` takes on `table`; here, the worst case for every kind."""
        return LockImpact(LockMode.ACCESS_EXCLUSIVE, READS_AND_WRITES, table)

    def max_name_length(self) -> int:
        """Identifier length limit, used to truncate default table names as Django does."""
        return 63
