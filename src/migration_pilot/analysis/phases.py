"""The deploy phase a migration declares: before the new code rolls out, or after it.

Expand/contract needs two moments: additive changes go in before the new
release (the old code keeps working with them), destructive ones (drop a
column the old code still selects, rename, NOT NULL the old code does not
fill) only once no old code runs. A migration says which it is:

- `deploy_phase = "post"` (or "pre") on the Migration class (ours);
- django-safemigrate's `safe = Safe.after_deploy()` / `Safe.before_deploy()` / `Safe.always()`;
- django-syzygy's `stage = Stage.POST_DEPLOY` / `Stage.PRE_DEPLOY`;

so projects using either switch without rewriting anything. Unmarked
migrations are pre-deploy. A migration that depends on a post-deploy one
waits with it.
"""

from __future__ import annotations

from typing import Any

PRE = "pre"
POST = "post"

# Lint rules whose hazard is the code still running; after the release that code is gone.
CONTRACT_RULES = frozenset({"drop-column", "drop-table", "rename-column", "rename-table", "add-field-not-null"})


def phase_of(migration: Any) -> str:
    """"pre" or "post" for one migration (see the module docstring)."""
    own = getattr(migration, "deploy_phase", None)
    if own in (PRE, POST):
        return str(own)
    for attribute in ("safe", "stage"):  # django-safemigrate, django-syzygy: read by name, never imported
        value = getattr(migration, attribute, None)
        if value is None:
            continue
        text = f"{getattr(value, 'name', '')} {getattr(value, 'value', '')} {value}".lower()
        if "after_deploy" in text or "post_deploy" in text or "after-deploy" in text:
            return POST
    return PRE
