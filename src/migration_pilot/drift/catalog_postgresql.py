"""Read a PostgreSQL schema from pg_catalog.

Django's introspection does not report index validity, NOT VALID
constraints, deferrability, identity columns or the exact index definition
(operator classes, INCLUDE, predicates), so everything comes from the catalog
here. Only relations visible on the search path are read, and objects that
belong to an extension (PostGIS' spatial_ref_sys, ...) are left out because no
migration of the project creates them.
"""

from __future__ import annotations

from typing import Any, Final

from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table

_RELS: Final = """
WITH rels AS (
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_table_is_visible(c.oid)
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
)
"""

_COLUMNS: Final = _RELS + """
SELECT r.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid),
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN co.collname END,
       a.attidentity, a.attgenerated
FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE r.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY r.relname, a.attnum
"""

_INDEXES: Final = _RELS + """
SELECT r.relname, ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisvalid,
       i.indisready, am.amname, pg_get_expr(i.indpred, i.indrelid),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k)
FROM rels r JOIN pg_index i ON i.indrelid = r.oid
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY r.relname, ic.relname
"""

_CONSTRAINTS: Final = _RELS + """
SELECT r.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.convalidated,
       con.condeferrable, con.condeferred, con.confdeltype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.ord),
       fc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.ord),
       (SELECT ic.relname FROM pg_class ic WHERE ic.oid = con.conindid AND con.contype <> 'f'),
       (SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = con.conindid AND con.contype <> 'f')
FROM rels r JOIN pg_constraint con ON con.conrelid = r.oid
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
WHERE con.contype IN ('p', 'u', 'c', 'f', 'x')
ORDER BY r.relname, con.conname
"""

_SEQUENCES: Final = _RELS + """
SELECT r.relname, format_type(s.seqtypid, NULL), owner.relname, a.attname
FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class owner ON owner.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE r.relkind = 'S'
"""

_VIEWS: Final = _RELS + """
SELECT r.relname, r.relkind, pg_get_viewdef(r.oid, true) FROM rels r WHERE r.relkind IN ('v', 'm')
"""

_ON_DELETE: Final = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_KINDS: Final = {"p": "primary_key", "u": "unique", "c": "check", "f": "foreign_key", "x": "exclusion"}
_IDENTITY: Final = {"a": "always", "d": "by default"}


def read(connection: Any) -> Catalog:
    """The catalog of the database `connection` points at (read-only queries)."""
    with connection.cursor() as cursor:
        columns = _fetch(cursor, _COLUMNS)
        indexes = _fetch(cursor, _INDEXES)
        constraints = _fetch(cursor, _CONSTRAINTS)
        sequences = _fetch(cursor, _SEQUENCES)
        views = _fetch(cursor, _VIEWS)
        cursor.execute(_RELS + "SELECT relname FROM rels WHERE relkind IN ('r', 'p', 'f')")
        names = [row[0] for row in cursor.fetchall()]
    owned: dict[tuple[str, str], str] = {}
    standalone: dict[str, str] = {}
    for seq, data_type, owner, column in sequences:
        if owner and column:
            owned[(owner, column)] = data_type
        else:
            standalone[seq] = data_type
    cols: dict[str, dict[str, Column]] = {name: {} for name in names}
    for table, name, type_, notnull, default, collation, identity, generated in columns:
        cols.setdefault(table, {})[name] = Column(
            name=name, type=type_, nullable=not notnull,
            default=None if generated else default, collation=collation,
            identity=_IDENTITY.get(identity or ""), generated=default if generated else None,
            sequence=owned.get((table, name)))
    idx: dict[str, list[Index]] = {}
    for table, name, indexdef, unique, valid, ready, method, predicate, keys in indexes:
        idx.setdefault(table, []).append(Index(
            name=name, columns=tuple(keys), definition=_index_body(indexdef, method),
            unique=bool(unique), condition=predicate, method=method, valid=bool(valid and ready)))
    cons: dict[str, list[Constraint]] = {}
    for (table, name, kind, definition, validated, deferrable, deferred, deltype, keys, ftable, fkeys,
         _index, index_valid) in constraints:
        body = definition.removesuffix(" NOT VALID")
        cons.setdefault(table, []).append(Constraint(
            name=name, kind=_KINDS[kind], columns=tuple(keys), definition=body,
            references=f"{ftable}({', '.join(fkeys)})" if ftable else None,
            on_delete=_ON_DELETE.get(deltype or "") if kind == "f" else None,
            deferrable=("deferred" if deferred else "immediate") if deferrable else None,
            validated=bool(validated) and index_valid is not False))
    tables = {
        name: Table(name=name, columns=cols.get(name, {}), indexes=tuple(idx.get(name, ())),
                    constraints=tuple(cons.get(name, ())))
        for name in names
    }
    view_defs = {name: (("MATERIALIZED " if kind == "m" else "") + " ".join(text.split()))
                 for name, kind, text in views}
    return Catalog(vendor="postgresql", version=str(connection.pg_version // 10000), tables=tables,
                   views=view_defs, sequences=standalone)


def _fetch(cursor: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor.execute(sql)
    return list(cursor.fetchall())


def _index_body(indexdef: str, method: str) -> str:
    """'btree (number varchar_pattern_ops) WHERE ...': the index definition minus name and table."""
    marker = f" USING {method} "
    at = indexdef.find(marker)
    return indexdef[at + len(" USING "):] if at >= 0 else indexdef
