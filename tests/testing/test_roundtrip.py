"""Comparing row fingerprints: lost, changed and added rows on the columns both sides share."""

from __future__ import annotations

from migration_pilot.testing.roundtrip import RoundTripReport, TableDifference, compare


def test_compare_counts_lost_changed_added_on_shared_columns():
    before = {"t": {1: {"id": 1, "a": "x", "gone": 5}, 2: {"id": 2, "a": "y", "gone": 6}}}
    after = {"t": {1: {"id": 1, "a": "x"}, 3: {"id": 3, "a": "z"}}, "new_table": {}}

    assert compare(before, after) == (TableDifference("t", lost=1, changed=0, added=1),)


def test_compare_sees_a_changed_value():
    before = {"t": {1: {"id": 1, "a": 7}}}
    after = {"t": {1: {"id": 1, "a": 0}}}

    assert compare(before, after) == (TableDifference("t", lost=0, changed=1, added=0),)


def test_report_text_and_lossless():
    report = RoundTripReport(("shop", "0004_drop"), ("shop_invoice",),
                             backward=(TableDifference("shop_invoice", 0, 2, 0),),
                             forward_again=(TableDifference("shop_invoice", 0, 0, 0),))

    assert not report.lossless
    assert str(report) == (
        "Round trip of shop.0004_drop over 1 tables:\n"
        "  after backward: shop_invoice: 0 rows lost, 2 changed, 0 added\n"
        "  after forward again: no rows lost or changed")
