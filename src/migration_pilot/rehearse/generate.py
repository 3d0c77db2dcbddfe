"""Generated rows for the tables a migration touches, valid for the historical models of its state.

Values follow each field's type, max_length, max_digits and choices; unique
fields (and one field of each unique set) get sequence-based values; nullable
fields are NULL in one row of five; foreign keys point at real rows of the
target table, which is filled first when it is empty. Rows are inserted with
the historical model's own INSERT (local fields only, so multi-table
inheritance works) in batches.
"""

from __future__ import annotations

import datetime
import decimal
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction

BATCH = 500


@dataclass
class Generated:
    """What generation did: rows added per table, and tables it could not fill (with the reason)."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


class _Unsupported(Exception):
    pass


def _unique_sets(meta: Any) -> list[tuple[str, ...]]:
    sets = [tuple(names) for names in meta.unique_together]
    for constraint in meta.constraints:
        names = getattr(constraint, "fields", ())
        if names and getattr(constraint, "condition", None) is None and type(constraint).__name__ == "UniqueConstraint":
            sets.append(tuple(names))
    return sets


class Generator:
    """Fills tables of one state's historical models on one connection alias."""

    def __init__(self, alias: str, rows: int, *, use_tz: bool) -> None:
        self.alias = alias
        self.target = rows
        self.use_tz = use_tz
        self.token = secrets.token_hex(2)
        self.result = Generated()

    # -- values -----------------------------------------------------------------------------------
    def _text(self, fld: Any, seq: int) -> str:
        kind = fld.get_internal_type()
        if kind == "EmailField" or type(fld).__name__ == "EmailField":
            value = f"u{self.token}{seq}@example.com"
        elif type(fld).__name__ == "URLField":
            value = f"https://example.com/{self.token}{seq}"
        elif kind == "GenericIPAddressField":
            return f"10.{(seq >> 16) & 255}.{(seq >> 8) & 255}.{seq & 255}"
        else:
            value = f"{self.token}{seq:x}" if kind == "SlugField" else f"r{self.token}-{seq}"
        limit = fld.max_length
        return value[-limit:] if limit and len(value) > limit else value

    def value(self, fld: Any, seq: int, *, unique: bool, start: int) -> Any:
        """A value for `fld` in row number `seq`."""
        kind = fld.get_internal_type()
        choices = [value for value, _ in fld.flatchoices] if fld.choices else []
        if choices and not unique:
            return choices[seq % len(choices)]
        if fld.null and not unique and not fld.primary_key and seq % 5 == 4:
            return None
        number = start + seq
        if kind in {"CharField", "TextField", "SlugField", "EmailField", "URLField", "GenericIPAddressField",
                    "FilePathField"}:
            return self._text(fld, number)
        if kind in {"FileField", "ImageField"}:
            return f"rehearse/{self.token}/{number}.txt"[-(fld.max_length or 100):]
        if kind in {"IntegerField", "BigIntegerField", "PositiveIntegerField", "PositiveBigIntegerField"}:
            return number if unique else number % 100_000
        if kind in {"SmallIntegerField", "PositiveSmallIntegerField"}:
            return number % 32_000
        if kind == "BooleanField":
            return seq % 2 == 0
        if kind == "DecimalField":
            whole = max((fld.max_digits or 10) - (fld.decimal_places or 0), 1)
            cents = number % 100 if (fld.decimal_places or 0) >= 2 else 0
            value = decimal.Decimal(number % (10 ** min(whole, 9))) + decimal.Decimal(cents) / 100
            return value.quantize(decimal.Decimal(1).scaleb(-(fld.decimal_places or 0)))
        if kind == "FloatField":
            return number * 0.5
        if kind == "UUIDField":
            return uuid.uuid4()
        if kind == "DateTimeField":
            moment = datetime.datetime(2020, 1, 1) + datetime.timedelta(minutes=number)
            return moment.replace(tzinfo=datetime.UTC) if self.use_tz else moment
        if kind == "DateField":
            return datetime.date(2000, 1, 1) + datetime.timedelta(days=number % 20_000)
        if kind == "TimeField":
            return datetime.time((number // 3600) % 24, (number // 60) % 60, number % 60)
        if kind == "DurationField":
            return datetime.timedelta(seconds=number)
        if kind == "JSONField":
            return {"rehearse": number}
        if kind == "BinaryField":
            return f"{self.token}{number}".encode()
        if fld.has_default():
            return fld.get_default()
        if fld.null:
            return None
        raise _Unsupported(f"no generator for {fld.model.__name__}.{fld.name} ({kind})")

    # -- tables -----------------------------------------------------------------------------------
    def _count(self, model: Any) -> int:
        return int(model._base_manager.using(self.alias).count())

    def _max(self, model: Any, fld: Any) -> int:
        from django.db.models import Max

        value = model._base_manager.using(self.alias).aggregate(m=Max(fld.attname))["m"]
        return int(value) + 1 if isinstance(value, int) else 0

    def _keys(self, model: Any, fld: Any, limit: int) -> list[Any]:
        target = fld.target_field
        return list(target.model._base_manager.using(self.alias).order_by(target.attname)
                    .values_list(target.attname, flat=True)[:limit])

    def fill(self, models: Iterable[Any]) -> Generated:
        """Bring each model's table (and the tables its foreign keys need) up to the target row count."""
        for model in models:
            self._fill(model, set())
        return self.result

    def _fill(self, model: Any, visiting: set[str]) -> None:
        meta = model._meta
        table = meta.db_table
        if table in self.result.rows or table in self.result.skipped or meta.proxy or not meta.managed:
            return
        if table in visiting:
            return
        visiting = visiting | {table}
        fields = [f for f in meta.local_concrete_fields
                  if not (f.primary_key and f.get_internal_type() in {"AutoField", "BigAutoField", "SmallAutoField"})
                  and not getattr(f, "generated", False)]
        try:
            have = self._count(model)
        except DatabaseError as exc:
            self.result.skipped[table] = f"cannot count rows: {str(exc).splitlines()[0] if str(exc) else exc}"
            return
        need = self.target - have
        if need <= 0:
            self.result.rows[table] = 0
            return
        unique_sets = _unique_sets(meta)
        unique = {f.name for f in fields if f.unique or f.primary_key}
        radix: list[str] = []
        for names in unique_sets:
            plain = [n for n in names if (f := meta.get_field(n)) and not f.is_relation and not f.choices]
            if plain:
                unique.add(plain[0])
            else:
                radix.extend(n for n in names if n not in radix)
        keys: dict[str, list[Any]] = {}
        for fld in fields:
            if not fld.is_relation:
                continue
            parent = fld.related_model
            if parent._meta.db_table != table:
                self._fill(parent, visiting)
            pool = self._keys(model, fld, max(need, 1) if fld.name in unique else 1000)
            if fld.name in unique:
                need = min(need, len(pool))
            if not pool and not fld.null:
                self.result.skipped[table] = f"{fld.name} needs rows in {parent._meta.db_table}, which has none"
                return
            keys[fld.name] = pool
        if radix:
            total = 1
            for name in radix:
                total *= max(len(keys.get(name) or []), 1) if name in keys else 3
            need = min(need, total)
        starts = {f.name: self._max(model, f) for f in fields if f.name in unique
                  and f.get_internal_type().endswith("IntegerField")}
        try:
            objs = [self._row(model, fields, seq, keys, unique, radix, starts) for seq in range(need)]
        except _Unsupported as exc:
            self.result.skipped[table] = str(exc)
            return
        inserted = 0
        manager = model._base_manager
        for start in range(0, len(objs), BATCH):
            batch = objs[start:start + BATCH]
            try:
                with transaction.atomic(using=self.alias):
                    manager._insert(batch, fields=fields, using=self.alias)
            except DatabaseError as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.result.skipped[table] = f"insert refused after {inserted} rows: {reason}"
                break
            inserted += len(batch)
        self.result.rows[table] = inserted

    def _row(self, model: Any, fields: list[Any], seq: int, keys: dict[str, list[Any]], unique: set[str],
             radix: list[str], starts: dict[str, int]) -> Any:
        obj = model()
        divisor = 1
        for fld in fields:
            if fld.is_relation:
                pool = keys[fld.name]
                if not pool or (fld.null and fld.name not in unique and fld.name not in radix and seq % 5 == 4):
                    value = None
                elif fld.name in unique:
                    value = pool[seq]
                elif fld.name in radix:
                    value = pool[(seq // divisor) % len(pool)]
                    divisor *= len(pool)
                else:
                    value = pool[seq % len(pool)]
            elif fld.name in radix:
                choices = [v for v, _ in fld.flatchoices] if fld.choices else [True, False]
                value = choices[(seq // divisor) % len(choices)]
                divisor *= len(choices)
            else:
                value = self.value(fld, seq, unique=fld.name in unique, start=starts.get(fld.name, 0))
            setattr(obj, fld.attname, value)
        return obj


def models_for(tables: Iterable[str], state: Any) -> list[Any]:
    """Historical models of `state` whose table is one of `tables` (auto-created through tables last)."""
    wanted = set(tables)
    found = [m for m in state.apps.get_models(include_auto_created=True) if m._meta.db_table in wanted]
    return sorted(found, key=lambda m: (bool(m._meta.auto_created), m._meta.db_table))

