"""The fallback reference: a catalog rendered from the migration state, without any database.

Used when the server refuses to create the scratch database. It knows what
the state knows for sure: managed tables, their columns and nullability, and
the names of indexes and constraints the models declare. It does not know
types, defaults or auto-generated names, so the comparison is coarser (see
compare.py, `Catalog.precise`) and the report says so.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.state import ProjectState

from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table


def state_catalog(state: ProjectState, connection: Any) -> Catalog:
    """Tables, columns and declared index/constraint names of every managed model in `state`."""
    tables: dict[str, Table] = {}
    for model in state.apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.swapped:
            continue
        columns = {}
        for field in meta.local_fields:
            if field.column is None or getattr(field, "generated", False):
                continue
            columns[field.column] = Column(name=field.column, type="", nullable=bool(field.null)
                                           and not field.primary_key)
        indexes = tuple(Index(name=i.name, columns=(), definition="") for i in meta.indexes if i.name)
        constraints = tuple(Constraint(name=c.name, kind="declared", columns=(), definition="")
                            for c in meta.constraints)
        tables[meta.db_table] = Table(name=meta.db_table, columns=columns, indexes=indexes,
                                      constraints=constraints)
    return Catalog(vendor=connection.vendor, version="", tables=tables, precise=False)


def unmanaged_tables(models: Any) -> set[str]:
    """Tables of models migrations never create (managed = False, proxies excluded)."""
    return {m._meta.db_table for m in models if not m._meta.managed and not m._meta.proxy}
