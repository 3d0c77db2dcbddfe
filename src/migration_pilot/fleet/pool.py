"""Bounded parallelism over tenants: `jobs` threads, each taking the next tenant until none is left or `stop`.

Each thread that touches Django's connections gets its own (Django's
connections are per thread), so `jobs` threads hold at most `jobs`
connections per alias; they are closed when the thread ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from django.db import connections

from migration_pilot.fleet.replay import TenantResult, first_line


def run_pool(tenants: Sequence[str], jobs: int, work: Callable[[str], TenantResult],
             record: Callable[[TenantResult], None], stop: threading.Event) -> None:
    """Call `work(tenant)` on min(jobs, len(tenants)) threads and `record` each result; no new tenant after `stop`."""
    if not tenants:
        return
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for tenant in tenants:
        todo.put(tenant)

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    tenant = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = work(tenant)
                except Exception as exc:  # the work reports its own failures; this is the last guard
                    result = TenantResult(tenant, "failed", error=first_line(exc))
                record(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, len(tenants)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
