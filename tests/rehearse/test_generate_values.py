"""The generator's pure parts: shortest strings over an alphabet, and check conditions evaluated in Python."""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan

from migration_pilot.rehearse.checks import RowValues, Unsupported, evaluate
from migration_pilot.rehearse.generate import alphabet_for, compact, room


def test_compact_walks_every_string_of_one_then_two_characters():
    alphabet = alphabet_for("postgresql")

    values = [compact(n, alphabet) for n in range(room(2, alphabet))]

    assert len(alphabet) == 62 and room(2, alphabet) == 62 + 62 * 62
    assert values[:2] == ["0", "1"] and values[61] == "Z" and values[62] == "00" and values[-1] == "ZZ"
    assert len(set(values)) == len(values) and max(len(v) for v in values) == 2
    assert compact(room(2, alphabet), alphabet) == "000"


def test_mysql_alphabet_has_no_letters_that_differ_only_in_case():
    alphabet = alphabet_for("mysql")

    assert len(alphabet) == 36 and alphabet == alphabet.lower()


class Meta:
    """Enough of a model's _meta for RowValues: concrete fields by name."""

    class Field:
        concrete = True

        def __init__(self, name):
            self.attname = name

    def get_field(self, name):
        if name not in {"start", "end", "percent", "price", "label", "note"}:
            raise LookupError(name)
        return self.Field(name)


class Row:
    def __init__(self, **values):
        self.__dict__.update(values)


def check(condition, **values):
    return evaluate(condition, RowValues(Meta(), Row(**values)))


def test_comparisons_with_fields_constants_and_arithmetic():
    day = datetime.date(2024, 1, 1)

    assert check(Q(end__gt=F("start")), start=day, end=day) is False
    assert check(Q(end__gt=F("start")), start=day, end=day + datetime.timedelta(days=1)) is True
    assert check(Q(end__gte=F("start") + datetime.timedelta(days=2)), start=day,
                 end=day + datetime.timedelta(days=1)) is False
    assert check(Q(percent__range=(0, 100)), percent=100) is True
    assert check(Q(percent__in=[1, 2]), percent=3) is False
    assert check(Q(price__gt=0) | Q(label__istartswith="FREE"), price=decimal.Decimal("0.00"),
                 label="free-1") is True
    assert check(~Q(label__contains="x"), label="box") is False
    assert check(GreaterThan(F("percent"), 5), percent=6) is True


def test_null_makes_a_comparison_unknown_which_a_check_constraint_lets_through():
    assert check(Q(percent__gte=0), percent=None) is None
    assert check(Q(percent__gte=0) & Q(percent__lte=10), percent=None) is None
    assert check(Q(percent__gte=0) & Q(price__gt=0), percent=None, price=0) is False
    assert check(Q(percent__gte=0) | Q(price__gt=0), percent=None, price=1) is True
    assert check(~Q(percent__gte=0), percent=None) is None
    assert check(Q(note__isnull=False) | Q(label="x"), note=None, label="y") is False


def test_what_python_cannot_read_is_unsupported():
    with pytest.raises(Unsupported):
        check(GreaterThan(Length("label"), 3), label="abcd")
    with pytest.raises(Unsupported):
        check(Q(label__length__gt=3), label="abcd")
    with pytest.raises(Unsupported):
        check(Q(start__gt=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)), start=datetime.datetime(2024, 1, 2))
