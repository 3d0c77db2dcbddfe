"""The reference-catalog cache: an unchanged project verifies without building a shadow.

The key is a SHA-256 over everything that decides what the applied
migrations produce: each applied migration's name and file bytes, the vendor
and server major version, the Django version and swappable settings. Files
live in `<project root>/.pilot-cache/verify/<key>.json` (project root =
settings.BASE_DIR, else the working directory), or under
$MIGRATION_PILOT_CACHE_DIR when it is set. Deleting the directory is always
safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migration_pilot.drift.model import FORMAT_VERSION, Catalog


def cache_dir() -> Path:
    """Where reference catalogs are cached."""
    override = os.environ.get("MIGRATION_PILOT_CACHE_DIR", "").strip()
    if override:
        return Path(override)
    from migration_pilot.conf import project_root

    return project_root() / ".pilot-cache" / "verify"


def cache_key(migrations: Iterable[Any], *, server: str, extra: Iterable[str] = ()) -> str:
    """Hex digest naming the reference built from `migrations` (Django Migration objects) on `server`."""
    import django
    from django.conf import settings

    digest = hashlib.sha256()
    for part in (f"format={FORMAT_VERSION}", f"server={server}", f"django={django.get_version()}",
                 f"user_model={getattr(settings, 'AUTH_USER_MODEL', '')}", *extra):
        digest.update(part.encode() + b"\0")
    for migration in migrations:
        digest.update(f"{migration.app_label}.{migration.name}".encode() + b"\0")
        digest.update(_source_digest(migration) + b"\0")
    return digest.hexdigest()


def _source_digest(migration: Any) -> bytes:
    module = sys.modules.get(type(migration).__module__)
    path = getattr(module, "__file__", None)
    if path:
        try:
            return hashlib.sha256(Path(path).read_bytes()).digest()
        except OSError:
            pass
    # No source file (zipped or compiled-only app): the operations' deconstruction stands in.
    return hashlib.sha256(repr([op.deconstruct() for op in migration.operations]).encode()).digest()


def load(key: str) -> Catalog | None:
    """The cached catalog for `key`, or None (missing, unreadable or an older format)."""
    path = cache_dir() / f"{key}.json"
    try:
        return Catalog.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, catalog: Catalog) -> Path | None:
    """Write atomically; a read-only project directory just means no cache (None)."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(catalog.to_json(), handle, sort_keys=True)
        target = directory / f"{key}.json"
        os.replace(tmp, target)
    except OSError:
        return None
    return target
