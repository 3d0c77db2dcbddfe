"""F3 on MariaDB: a dump taken while a writer inserts restores to one consistent point (--single-transaction)."""

from __future__ import annotations

import threading

import pytest

from tests.backup.shop import Shop
from tests.databases import admin_connection, scratch_database


@pytest.fixture
def my_shop(mysql_server, tmp_path):
    with scratch_database(mysql_server, "pilot_consistent") as name:
        shop = Shop("mysql", mysql_server, name, tmp_path)
        shop.migrate()
        yield shop


def _writer(shop: Shop, stop: threading.Event, done: list[int]) -> None:
    """Each transaction inserts one customer and one order for it, until told to stop."""
    with admin_connection(shop.server, shop.name) as conn:
        conn.autocommit(False)
        cursor = conn.cursor()
        i = 0
        while not stop.is_set():
            cursor.execute("INSERT INTO customers_customer (name, email, created_at) VALUES ('w', %s, NOW())",
                           (f"w{i}@x",))
            cursor.execute("INSERT INTO orders_order (customer_id, status, total, created_at, currency)"
                           " VALUES (%s, 'pending', 1, NOW(), 'EUR')", (cursor.lastrowid,))
            conn.commit()
            i += 1
        done.append(i)


def test_a_dump_taken_under_inserts_restores_to_one_consistent_point(my_shop):
    shop = my_shop
    shop.fill(users=3, customers=2000, orders=2000)  # the dump takes a while: the writer commits during it
    stop, done = threading.Event(), []
    thread = threading.Thread(target=_writer, args=(shop, stop, done))
    thread.start()
    try:
        manifests = [shop.backup() for _ in range(2)]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert done and done[0] > 0

    for manifest in manifests:
        result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

        assert result.code == 0, result.out + result.err
        ((customers,),) = shop.sql("SELECT count(*) FROM customers_customer WHERE name = 'w'")
        ((orders,),) = shop.sql("SELECT count(*) FROM orders_order o JOIN customers_customer c"
                                " ON c.id = o.customer_id WHERE c.name = 'w'")
        ((orphans,),) = shop.sql("SELECT count(*) FROM orders_order o LEFT JOIN customers_customer c"
                                 " ON c.id = o.customer_id WHERE c.id IS NULL")
        assert customers == orders and orphans == 0, (customers, orders, orphans)
