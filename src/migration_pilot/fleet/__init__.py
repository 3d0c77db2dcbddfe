"""Fleet deploy: one migration plan across many tenant schemas (PostgreSQL) or database aliases.

discovery.py finds the tenants, applied.py reads what each has applied (one
query for all schemas) and groups them, compile.py turns a group's plan into
SQL once, replay.py runs it per tenant in one transaction, atomic.py makes the
fleet all or nothing with prepared transactions, deploy.py drives it and
records each tenant in the run history.
"""

from __future__ import annotations
