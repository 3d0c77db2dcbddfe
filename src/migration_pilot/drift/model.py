"""A vendor-neutral picture of a database schema, read from the catalogs.

Both sides of a comparison (the live database and the reference built from
the migrations) are turned into a `Catalog`, so the diff never looks at
vendor-specific rows. Every value is plain data and round-trips through JSON,
which is how the reference is cached between runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

FORMAT_VERSION: Final = 1
"""Bumped when the shape below changes, so older cache files are ignored."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its type string carries length and precision (`character varying(30)`)."""

    name: str
    type: str
    nullable: bool
    default: str | None = None
    collation: str | None = None
    identity: str | None = None
    """'by default' / 'always' (PostgreSQL identity), 'auto_increment', 'autoincrement'."""
    generated: str | None = None
    """The expression of a generated (computed) column."""
    sequence: str | None = None
    """Data type of the sequence owned by this column (serial or identity), PostgreSQL."""


@dataclass(frozen=True, slots=True)
class Index:
    """A plain (non-constraint) index; `definition` is everything but its name and table."""

    name: str
    columns: tuple[str, ...]
    definition: str
    unique: bool = False
    condition: str | None = None
    method: str | None = None
    valid: bool = True


@dataclass(frozen=True, slots=True)
class Constraint:
    """Primary key, unique, check, foreign key or exclusion constraint."""

    name: str
    kind: str
    columns: tuple[str, ...]
    definition: str
    """Vendor text without the name, e.g. `UNIQUE (number)` or `CHECK ((amount >= 0))`."""
    references: str | None = None
    on_delete: str | None = None
    deferrable: str | None = None
    """None (not deferrable), 'immediate' or 'deferred'."""
    validated: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    """A table with everything hanging off it."""

    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    indexes: tuple[Index, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    """Table-level settings that migrations decide (MySQL engine and collation)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every table, view and free-standing sequence of one database."""

    vendor: str
    version: str
    tables: dict[str, Table] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)
    """View name -> normalised definition (materialised views included)."""
    sequences: dict[str, str] = field(default_factory=dict)
    """Sequences not owned by a column: name -> data type."""
    precise: bool = True
    """False for a catalog rendered from migration state: only names and nullability are known."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the reference cache)."""
        return {"format": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        """The inverse of `to_json`; raises KeyError/TypeError on a foreign shape."""
        if data.get("format") != FORMAT_VERSION:
            raise ValueError("catalog format changed")
        tables = {
            name: Table(
                name=t["name"],
                columns={c["name"]: Column(**c) for c in t["columns"].values()},
                indexes=tuple(Index(**{**i, "columns": tuple(i["columns"])}) for i in t["indexes"]),
                constraints=tuple(Constraint(**{**c, "columns": tuple(c["columns"])})
                                  for c in t["constraints"]),
                options=dict(t["options"]),
            )
            for name, t in data["tables"].items()
        }
        return cls(vendor=data["vendor"], version=data["version"], tables=tables,
                   views=dict(data["views"]), sequences=dict(data["sequences"]),
                   precise=bool(data["precise"]))
