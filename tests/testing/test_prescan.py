"""Finding literal start targets in test sources before the test database exists."""

from __future__ import annotations

from migration_pilot.testing.prescan import targets_in_source, targets_of_test

SOURCE = '''
def test_a(migrator):
    migrator.apply_initial_migration(("shop", "0002_invoice"))
    migrator.apply_tested_migration(("shop", "0003_status"))

def test_b(migrator):
    migrator.apply_initial_migration([("shop", "0001_initial"), ("stats", None)])
    migrator.apply_initial_migration(("shop", "0002_invoice"))
    migrator.apply_initial_migration(TARGET)

class TestC:
    migrate_from = ("stats", "0001_initial")
'''


def test_finds_literal_start_targets_once_each():
    assert sorted(targets_in_source(SOURCE), key=repr) == [
        ("shop", "0001_initial"), ("shop", "0002_invoice"), ("stats", "0001_initial"), ("stats", None)]


def test_counts_every_use_inside_one_test():
    assert targets_in_source(SOURCE, unique=False).count(("shop", "0002_invoice")) == 2


def test_ignores_broken_sources():
    assert targets_in_source("def broken(:\n") == []


def test_a_test_class_uses_its_migrate_from():
    class Case:
        migrate_from = ("shop", "0001_initial")

    assert targets_of_test(None, Case) == [("shop", "0001_initial")]


def test_a_test_function_uses_its_literal_calls():
    def test_x(migrator):
        migrator.apply_initial_migration(("shop", "0003_status"))

    assert targets_of_test(test_x) == [("shop", "0003_status")]
