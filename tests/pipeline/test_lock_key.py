"""The deploy lock key is a stable, documented function of the database name (scenario A2)."""

from __future__ import annotations

import os
import subprocess
import sys

from migration_pilot.pipeline.lock import advisory_key, mysql_lock_name


def test_advisory_key_is_golden():
    assert advisory_key("shop") == advisory_key("shop")
    assert advisory_key("shop") == 5880304955687963764
    assert advisory_key("shop_staging") != advisory_key("shop")


def test_advisory_key_fits_a_signed_bigint():
    for name in ("a", "shop", "x" * 200):
        assert -(2**63) <= advisory_key(name) < 2**63


def test_advisory_key_is_the_same_in_processes_with_different_hash_seeds():
    code = "from migration_pilot.pipeline.lock import advisory_key; print(advisory_key('shop'))"
    keys = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        keys.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())

    assert keys == {str(advisory_key("shop"))}


def test_mysql_lock_name_is_stable_and_within_64_characters():
    long_name = "a_very_long_database_name_" * 4

    assert mysql_lock_name(long_name) == mysql_lock_name(long_name)
    assert len(mysql_lock_name(long_name)) <= 64
    assert mysql_lock_name("shop") != mysql_lock_name("shop2")
