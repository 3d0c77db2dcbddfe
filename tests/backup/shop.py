"""The example shop project on a real database, driven through `manage.py` in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.databases import Server
from tests.pipeline.inspect_db import query

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "examples" / "shop" / "manage.py"
PASSWORD = "S3cr3t-Pa55!w0rd"

FILL = '''
import random
from decimal import Decimal
from django.contrib.auth.models import Group, Permission, User
from customers.models import Customer
from orders.models import Order
from billing.models import Invoice

random.seed({seed})
groups = [Group.objects.create(name=f"group-{{i}}-{seed}") for i in range(5)]
for group in groups:
    group.permissions.set(Permission.objects.order_by("?")[:4])
for i in range({users}):
    user = User.objects.create_user(f"user{{i}}-{seed}", f"u{{i}}-{seed}@example.com", "pw")
    user.groups.set(random.sample(groups, 2))
customers = Customer.objects.bulk_create(
    Customer(name=f"Customer {{i}} ünïcödé", email=f"c{{i}}-{seed}@example.com",
             phone=None if i % 3 else f"+33 {{i:09d}}") for i in range({customers}))
orders = Order.objects.bulk_create(
    Order(customer=random.choice(customers), status=random.choice(["pending", "paid", "shipped"]),
          total=Decimal(random.randint(100, 99999)) / 100, tracking_number=f"TRK{{i}}" if i % 2 else None,
          reference=f"REF-{seed}-{{i}}") for i in range({orders}))
Invoice.objects.bulk_create(
    Invoice(order=order, number=f"INV-{seed}-{{i}}", amount=order.total, status="issued",
            note="line\\nbreak 'quote' \\"dq\\" \\\\ backslash" * (i % 3)) for i, order in enumerate(orders))
'''

CHANGE = '''
from customers.models import Customer
from orders.models import Order
from billing.models import Invoice
from django.contrib.auth.models import User
Invoice.objects.filter(pk__in=list(Invoice.objects.values_list("pk", flat=True)[:20])).delete()
Order.objects.filter(invoices__isnull=True).delete()
Customer.objects.filter(pk__in=list(Customer.objects.values_list("pk", flat=True)[:5])).update(name="changed")
User.objects.filter(pk__in=list(User.objects.values_list("pk", flat=True)[:3])).delete()
Customer.objects.create(name="new after backup", email="new@example.com")
'''


@dataclass
class Result:
    out: str
    err: str
    code: int


class Shop:
    """examples/shop on one database; `pilot` runs through manage.py with a private backup directory."""

    def __init__(self, vendor: str, server: Server | None, name: str, tmp: Path, *, password: str = "") -> None:
        self.vendor, self.server, self.name = vendor, server, name
        self.backups = tmp / "backups"
        self.cwd = tmp
        self.env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
        if vendor == "sqlite":
            self.env["SHOP_SQLITE_PATH"] = name
        else:
            assert server is not None
            scheme = "postgres" if vendor == "postgresql" else "mysql"
            auth = server.user + (f":{password.replace('!', '%21')}" if password else "")
            self.env["DATABASE_URL"] = f"{scheme}://{auth}@{server.host}:{server.port}/{name}"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(MANAGE), *args]

    def manage(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(self.command(*args), cwd=self.cwd, capture_output=True, text=True,
                              env=env or self.env, timeout=timeout, check=False)
        return Result(done.stdout, done.stderr, done.returncode)

    def pilot(self, *args: str, **kwargs: Any) -> Result:
        return self.manage("pilot", *args, "--dir", str(self.backups), **kwargs)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command("pilot", *args, "--dir", str(self.backups)), cwd=self.cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def migrate(self) -> None:
        result = self.manage("migrate", "-v", "0")
        assert result.code == 0, result.err

    def shell(self, code: str) -> None:
        result = self.manage("shell", "-c", code)
        assert result.code == 0, result.err

    def fill(self, *, seed: int = 1, users: int = 30, customers: int = 200, orders: int = 400) -> None:
        self.shell(FILL.format(seed=seed, users=users, customers=customers, orders=orders))

    def backup(self, *args: str) -> dict[str, Any]:
        result = self.pilot("backup", "--format", "json", *args)
        assert result.code == 0, result.out + result.err
        return dict(json.loads(result.out))

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        return query(self.vendor, self.server, self.name, statement)

    def tables(self) -> list[str]:
        if self.vendor == "sqlite":
            rows = self.sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        elif self.vendor == "postgresql":
            rows = self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        else:
            rows = self.sql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                            " AND TABLE_TYPE = 'BASE TABLE'")
        return sorted(r[0] for r in rows)

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Per table: row count and a hash of the sorted rows, read with the test's own driver.

        The tool's own history tables are left out: a restore records itself there as a run.
        """
        found = {}
        for table in self.tables():
            if table.startswith("migration_pilot_"):
                continue
            quoted = f'"{table}"' if self.vendor != "mysql" else f"`{table}`"
            rows = sorted(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
                          for row in self.sql(f"SELECT * FROM {quoted}"))
            found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return found
