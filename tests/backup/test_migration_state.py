"""G4: a backup taken at migration state S1, restored after migrating to S2, reports S2's migrations as pending.

The catalogue's reference case on every vendor: back up at S1, migrate to S2,
restore, and the restore (and Django's own `showmigrations`) show S1 with
exactly S2's migrations pending; `migrate` then brings the database to S2.
"""

from __future__ import annotations

import json

S1 = {"billing": "0002_invoice_status", "orders": "0004_order_currency"}
S2_ONLY = [["billing", "0003_rename_memo_invoice_note"], ["billing", "0004_alter_invoice_number"],
           ["orders", "0005_order_reference"], ["orders", "0006_backfill_order_reference"]]


def test_restore_of_an_older_state_lists_the_newer_migrations_as_pending(shop):
    for app, name in S1.items():  # the fixture migrated to S2; step back to S1
        result = shop.manage("migrate", app, name, "-v", "0")
        assert result.code == 0, result.err
    manifest = shop.backup("--label", "at-S1")
    assert not any(pair in manifest["applied_migrations"] for pair in S2_ONLY)
    shop.migrate()  # S2

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes", "--format", "json")
    text = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 0 and text.code == 0, result.err + text.err
    payload = json.loads(result.out)
    assert sorted(payload["pending"]) == S2_ONLY
    assert ["billing", "0002_invoice_status"] in payload["applied"] and payload["unknown"] == []
    assert "billing: 0002_invoice_status (2 pending)" in text.out
    assert "orders: 0004_order_currency (2 pending)" in text.out
    assert "4 migration(s) in the code are not applied: run 'pilot deploy' to apply them." in text.out
    plan = shop.manage("showmigrations", "billing", "orders").out
    assert "[ ] 0003_rename_memo_invoice_note" in plan and "[X] 0002_invoice_status" in plan
    assert shop.manage("migrate", "-v", "0").code == 0
    assert "[ ]" not in shop.manage("showmigrations", "billing", "orders").out
