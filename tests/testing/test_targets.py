"""Target parsing and the DTM-style plan prefix, on a hand-built migration graph (no database)."""

from __future__ import annotations

import pytest
from django.db.migrations.graph import MigrationGraph

from migration_pilot.exceptions import PilotError
from migration_pilot.testing.targets import initial_prefix, normalize, resolve


@pytest.fixture
def graph():
    graph = MigrationGraph()
    for key in [("shop", "0001_initial"), ("shop", "0002_invoice"), ("shop", "0003_status"),
                ("stats", "0001_initial")]:
        graph.add_node(key, None)
    graph.add_dependency(None, ("shop", "0002_invoice"), ("shop", "0001_initial"))
    graph.add_dependency(None, ("shop", "0003_status"), ("shop", "0002_invoice"))
    graph.add_dependency(None, ("stats", "0001_initial"), ("shop", "0001_initial"))
    return graph


PLAN = [("shop", "0001_initial"), ("stats", "0001_initial"), ("shop", "0002_invoice"), ("shop", "0003_status")]


def test_normalize_accepts_one_tuple_or_a_list():
    assert normalize(("shop", None)) == [("shop", None)]
    assert normalize([("shop", "0001_initial"), ("stats", None)]) == [("shop", "0001_initial"), ("stats", None)]


@pytest.mark.parametrize("bad", ["shop", ("shop",), ("shop", 1), [], [("shop", "0001"), "x"]])
def test_normalize_rejects_shapes_in_one_line(bad):
    with pytest.raises(PilotError) as caught:
        normalize(bad)

    assert "\n" not in str(caught.value)
    assert "('app_label', 'migration_name')" in str(caught.value) or "such as ('shop'" in str(caught.value)


def test_resolve_expands_a_unique_prefix(graph):
    assert resolve([("shop", "0002")], graph) == [("shop", "0002_invoice")]


def test_unknown_app_names_the_known_ones(graph):
    with pytest.raises(LookupError) as caught:
        resolve([("shopp", "0001_initial")], graph)

    assert str(caught.value) == (
        "Migration target ('shopp', '0001_initial'): no app 'shopp' has migrations. Use one of the app labels: shop, stats.")


def test_ambiguous_prefix_is_refused(graph):
    with pytest.raises(PilotError, match="'000' matches 3 migrations of 'shop'"):
        resolve([("shop", "000")], graph)


def test_initial_prefix_stops_at_the_target_and_keeps_earlier_apps():
    assert initial_prefix([("shop", "0002_invoice")], PLAN) == PLAN[:3]


def test_initial_prefix_none_excludes_the_whole_app():
    assert initial_prefix([("stats", None)], PLAN) == PLAN[:1]
    assert initial_prefix([("shop", None)], PLAN) == []


def test_initial_prefix_of_several_targets_is_the_longest():
    assert initial_prefix([("shop", "0001_initial"), ("shop", "0003_status")], PLAN) == PLAN
