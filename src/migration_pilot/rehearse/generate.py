"""Generated rows for the tables a migration touches, valid for the historical models of its state.

Values follow each field's type, max_length, max_digits and choices; unique
fields (and one field of each unique set) get sequence-based values; nullable
fields are NULL in one row of five; foreign keys point at real rows of the
target table, which is filled first when it is empty. A unique text column too
short for the readable values (a 2-character country code) gets the shortest
strings over the whole alphabet the column's collation tells apart, skipping
the values it already holds; a unique column that cannot hold the requested
rows gets as many as it can, and the table is reported as limited, with the
column and its room. Rows are made to satisfy the model's check constraints
(see `checks`); rows that cannot be are left out and counted. Rows are inserted
with the historical model's own INSERT (local fields only, so multi-table
inheritance works) in batches; a batch the database refuses is inserted again
one row at a time, each in a savepoint, leaving out the rows it refuses.
"""

from __future__ import annotations

import datetime
import decimal
import secrets
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction

from migration_pilot.rehearse.checks import Satisfier

BATCH = 500
# When the database refuses a batch and then each of its first GIVE_UP rows one at a time, the table is given up.
GIVE_UP = 50
TEXT_KINDS = frozenset({"CharField", "TextField", "SlugField", "EmailField", "URLField", "FilePathField"})
SMALL_INTS = frozenset({"SmallIntegerField", "PositiveSmallIntegerField"})
INTS = frozenset({"IntegerField", "PositiveIntegerField"})


@dataclass
class Generated:
    """What generation did: rows added per table, and what it could not do (per table, with the reason).

    `skipped`: tables not filled, or given up part way; `limited`: tables filled with fewer rows than
    asked because a unique column (or set) has no room for more; `left_out`: rows left out because no
    values satisfied a check constraint or the database refused them.
    """

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    limited: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


class _Unsupported(Exception):
    pass


def _unique_sets(meta: Any) -> list[tuple[str, ...]]:
    sets = [tuple(names) for names in meta.unique_together]
    for constraint in meta.constraints:
        names = getattr(constraint, "fields", ())
        if names and getattr(constraint, "condition", None) is None and type(constraint).__name__ == "UniqueConstraint":
            sets.append(tuple(names))
    return sets


def compact(number: int, alphabet: str) -> str:
    """The `number`-th (from 0) shortest string over `alphabet`: '0', '1', …, then '00', '01', …"""
    out = []
    number += 1
    while number > 0:
        number, digit = divmod(number - 1, len(alphabet))
        out.append(alphabet[digit])
    return "".join(reversed(out))


def room(length: int, alphabet: str) -> int:
    """How many distinct strings of 1 to `length` characters `alphabet` makes."""
    return sum(len(alphabet) ** k for k in range(1, length + 1))


def alphabet_for(vendor: str) -> str:
    """Characters a unique index tells apart: MySQL/MariaDB's default collations ignore case."""
    lower = string.digits + string.ascii_lowercase
    return lower if vendor == "mysql" else lower + string.ascii_uppercase


class Generator:
    """Fills tables of one state's historical models on one connection alias."""

    def __init__(self, alias: str, rows: int, *, use_tz: bool) -> None:
        self.alias = alias
        self.target = rows
        self.use_tz = use_tz
        self.token = secrets.token_hex(2)
        self.vendor = str(connections[alias].vendor)
        self.alphabet = alphabet_for(self.vendor)
        self.result = Generated()

    # -- values -----------------------------------------------------------------------------------
    def _raw_text(self, fld: Any, seq: int) -> str:
        kind = fld.get_internal_type()
        if kind == "EmailField" or type(fld).__name__ == "EmailField":
            return f"u{self.token}{seq}@example.com"
        if type(fld).__name__ == "URLField":
            return f"https://example.com/{self.token}{seq}"
        return f"{self.token}{seq:x}" if kind == "SlugField" else f"r{self.token}-{seq}"

    def _text(self, fld: Any, seq: int) -> str:
        if fld.get_internal_type() == "GenericIPAddressField":
            return f"10.{(seq >> 16) & 255}.{(seq >> 8) & 255}.{seq & 255}"
        value = self._raw_text(fld, seq)
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
        if kind in TEXT_KINDS or kind == "GenericIPAddressField":
            return self._text(fld, number)
        if kind in {"FileField", "ImageField"}:
            return f"rehearse/{self.token}/{number}.txt"[-(fld.max_length or 100):]
        if kind in INTS or kind in {"BigIntegerField", "PositiveBigIntegerField"}:
            return number if unique else number % 100_000
        if kind in SMALL_INTS:
            return number if unique else number % 32_000
        if kind == "BooleanField":
            return seq % 2 == 0
        if kind == "DecimalField":
            places = fld.decimal_places or 0
            if unique:
                return decimal.Decimal(number).scaleb(-places)
            whole = max((fld.max_digits or 10) - places, 1)
            cents = number % 100 if places >= 2 else 0
            value = decimal.Decimal(number % (10 ** min(whole, 9))) + decimal.Decimal(cents) / 100
            return value.quantize(decimal.Decimal(1).scaleb(-places))
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

    def others(self, fld: Any, seq: int) -> list[Any]:
        """Other values `fld` could take in row `seq` (candidates when a check constraint fails)."""
        out = []
        for step in (1, 2, 3, 7):
            try:
                out.append(self.value(fld, seq + step, unique=False, start=0))
            except _Unsupported:
                break
        return out

    @staticmethod
    def capacity(fld: Any, start: int) -> int | None:
        """How many distinct values `value(unique=True)` gives `fld` from `start` on (None: plenty)."""
        kind = fld.get_internal_type()
        if kind in SMALL_INTS:
            return max(32_768 - start, 0)
        if kind in INTS:
            return max(2**31 - start, 0)
        if kind == "BooleanField":
            return 2
        if kind == "DateField":
            return 20_000
        if kind == "TimeField":
            return 86_400
        if kind == "DecimalField" and fld.max_digits:
            return int(10 ** fld.max_digits)
        return None

    def _compact_text(self, fld: Any, start: int, need: int) -> bool:
        limit = fld.max_length
        return (fld.get_internal_type() in TEXT_KINDS and bool(limit) and need > 0
                and len(self._raw_text(fld, start + need - 1)) > limit)

    def _short_values(self, model: Any, fld: Any, need: int) -> list[str]:
        """Up to `need` unused shortest strings within fld.max_length (the values already there skipped)."""
        fold = self.vendor == "mysql"
        existing = {str(v).casefold() if fold else str(v)
                    for v in model._base_manager.using(self.alias).values_list(fld.attname, flat=True)
                    if v is not None}
        out: list[str] = []
        total = room(fld.max_length, self.alphabet)
        number = 0
        while number < total and len(out) < need:
            candidate = compact(number, self.alphabet)
            if candidate not in existing:
                out.append(candidate)
            number += 1
        return out

    # -- tables -----------------------------------------------------------------------------------
    def _count(self, model: Any) -> int:
        return int(model._base_manager.using(self.alias).count())

    def _max(self, model: Any, fld: Any) -> int:
        from django.db.models import Max

        value = model._base_manager.using(self.alias).aggregate(m=Max(fld.attname))["m"]
        return int(value) + 1 if isinstance(value, int) else 0

    def _keys(self, model: Any, fld: Any, limit: int, *, unused: bool) -> list[Any]:
        """Up to `limit` keys of the rows `fld` points at (`unused`: none this table points at yet)."""
        target = fld.target_field
        rows = target.model._base_manager.using(self.alias)
        if unused:
            taken = model._base_manager.using(self.alias).filter(**{f"{fld.attname}__isnull": False})
            rows = rows.exclude(**{f"{target.attname}__in": taken.values(fld.attname)})
        return list(rows.order_by(target.attname).values_list(target.attname, flat=True)[:limit])

    def fill(self, models: Iterable[Any]) -> Generated:
        """Bring each model's table (and the tables its foreign keys need) up to the target row count."""
        for model in models:
            self._fill(model, set())
        return self.result

    def _unique_fields(self, meta: Any, fields: list[Any], keys_needed: int) -> tuple[set[str], list[str]]:
        """Fields whose values must not repeat, and the fields of unique sets walked as a mixed radix."""
        unique = {f.name for f in fields if f.unique or f.primary_key}
        radix: list[str] = []
        for names in _unique_sets(meta):
            plain = [f for n in names if not (f := meta.get_field(n)).is_relation and not f.choices]
            if plain:
                # The field with the most room carries the set's uniqueness.
                unique.add(max(plain, key=lambda f: self.capacity(f, 0) or 2**62
                               if not self._compact_text(f, 0, keys_needed)
                               else room(f.max_length, self.alphabet)).name)
            else:
                radix.extend(n for n in names if n not in radix)
        return unique, radix

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
        unique, radix = self._unique_fields(meta, fields, need)
        limits: list[tuple[int, str]] = []
        keys: dict[str, list[Any]] = {}
        for fld in fields:
            if not fld.is_relation:
                continue
            parent = fld.related_model
            if parent._meta.db_table != table:
                self._fill(parent, visiting)
            pool = self._keys(model, fld, max(need, 1) if fld.name in unique else 1000, unused=fld.name in unique)
            if not pool and not fld.null:
                self.result.skipped[table] = f"{fld.name} needs rows in {parent._meta.db_table}, which has none"
                return
            if fld.name in unique and len(pool) < need:
                limits.append((len(pool), f"{fld.name} is one-to-one with {parent._meta.db_table}, which has"
                                          f" {len(pool):,} rows no {table} row points at"))
            keys[fld.name] = pool
        if radix:
            total = 1
            for name in radix:
                total *= max(len(keys.get(name) or []), 1) if name in keys else 3
            if total < need:
                limits.append((total, f"the unique set ({', '.join(radix)}) has {total:,} combinations"))
        starts = {f.name: self._max(model, f) for f in fields if f.name in unique
                  and f.get_internal_type().endswith("IntegerField")}
        fixed: dict[str, list[Any]] = {}
        for fld in fields:
            if fld.name not in unique or fld.is_relation:
                continue
            if self._compact_text(fld, starts.get(fld.name, 0), need):
                fixed[fld.name] = self._short_values(model, fld, need)
                free = len(fixed[fld.name])
            else:
                free = self.capacity(fld, starts.get(fld.name, 0)) or need
            if free < need:
                size = f", max_length {fld.max_length}" if fld.name in fixed else ""
                limits.append((free, f"{fld.name} ({fld.get_internal_type()}{size}) has room for {free:,} more"
                                     " distinct values"))
        if limits:
            need = min(need, *(n for n, _ in limits))
        satisfier = Satisfier(model, self.alias, frozen=unique | set(radix) | {f.name for f in fields
                                                                               if f.is_relation},
                              others=self.others)
        objs, left_out = [], 0
        try:
            for seq in range(need):
                obj = self._row(model, fields, seq, keys, unique, radix, starts, fixed)
                if satisfier and not satisfier.satisfy(obj, seq):
                    left_out += 1
                    continue
                objs.append(obj)
        except _Unsupported as exc:
            self.result.skipped[table] = str(exc)
            return
        inserted, refused, reason = self._insert(model, fields, objs)
        self.result.rows[table] = inserted
        if limits:
            self.result.limited[table] = (f"{have + inserted:,} of {self.target:,} rows:"
                                          f" {min(limits)[1]}")
        notes = []
        if left_out:
            names = ", ".join(f"{name} ({count:,})" for name, count in satisfier.unsatisfied.most_common())
            notes.append(f"{left_out:,} rows left out: no values found that satisfy check constraint {names}")
        if refused and table not in self.result.skipped:
            notes.append(f"{refused:,} rows refused by the database ({reason})")
        if notes:
            self.result.left_out[table] = "; ".join(notes)

    def _insert(self, model: Any, fields: list[Any], objs: list[Any]) -> tuple[int, int, str]:
        """Insert `objs` in batches; a refused batch row by row. (inserted, refused, first refusal)."""
        inserted, refused, reason = 0, 0, ""
        manager = model._base_manager
        for start in range(0, len(objs), BATCH):
            batch = objs[start:start + BATCH]
            try:
                with transaction.atomic(using=self.alias):
                    manager._insert(batch, fields=fields, using=self.alias)
                inserted += len(batch)
                continue
            except DatabaseError as exc:
                reason = reason or _line(exc)
            done = 0
            with transaction.atomic(using=self.alias):
                for index, obj in enumerate(batch):
                    if index >= GIVE_UP and not done:
                        break
                    try:
                        with transaction.atomic(using=self.alias):
                            manager._insert([obj], fields=fields, using=self.alias)
                    except DatabaseError:
                        refused += 1
                        continue
                    done += 1
            inserted += done
            if not done:
                self.result.skipped[model._meta.db_table] = f"insert refused after {inserted} rows: {reason}"
                break
        return inserted, refused, reason

    def _row(self, model: Any, fields: list[Any], seq: int, keys: dict[str, list[Any]], unique: set[str],
             radix: list[str], starts: dict[str, int], fixed: dict[str, list[Any]]) -> Any:
        obj = model()
        divisor = 1
        for fld in fields:
            if fld.name in fixed:
                value = fixed[fld.name][seq]
            elif fld.is_relation:
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


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def models_for(tables: Iterable[str], state: Any) -> list[Any]:
    """Historical models of `state` whose table is one of `tables` (auto-created through tables last)."""
    wanted = set(tables)
    found = [m for m in state.apps.get_models(include_auto_created=True) if m._meta.db_table in wanted]
    return sorted(found, key=lambda m: (bool(m._meta.auto_created), m._meta.db_table))

