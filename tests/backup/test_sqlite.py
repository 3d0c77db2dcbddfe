"""SQLite: the online backup API gives a consistent copy while another process writes (F3)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing


def test_backup_is_consistent_while_a_writer_inserts(tmp_path):
    from tests.backup.shop import Shop

    shop = Shop("sqlite", None, str(tmp_path / "shop.sqlite3"), tmp_path)
    shop.migrate()
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time
        from contextlib import closing
        with closing(sqlite3.connect({shop.name!r}, timeout=30)) as conn:
            end = time.monotonic() + 4
            i = 0
            while time.monotonic() < end:
                with conn:
                    cur = conn.execute("INSERT INTO customers_customer (name, email, created_at)"
                                       " VALUES ('w', 'w' || ? || '@x', '2024-01-01')", (i,))
                    conn.execute("INSERT INTO orders_order (customer_id, status, total, created_at, currency)"
                                 " VALUES (?, 'pending', 1, '2024-01-01', 'EUR')", (cur.lastrowid,))
                i += 1
    """)])
    try:
        manifests = [shop.backup() for _ in range(3)]
    finally:
        writer.wait(timeout=60)

    for manifest in manifests:
        with closing(sqlite3.connect(manifest["path"])) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
            orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
            assert customers == orders
