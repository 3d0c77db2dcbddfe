"""Configuration: `[tool.migration_pilot]` in pyproject.toml, then `settings.MIGRATION_PILOT`.

Both are merged into one frozen Config (the Django setting wins key by key);
command-line flags are applied on top by the CLI. Unknown keys and wrong types
are errors that name the key and the file, never silently ignored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from django.conf import settings

from migration_pilot.diagnostics import Severity
from migration_pilot.exceptions import ConfigError

FAIL_NEVER: Final = 1000
"""`fail_on = "never"`: report findings, always exit 0."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything configurable, after merging every source."""

    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    exclude_apps: frozenset[str] = frozenset()
    baseline: Mapping[str, str] = field(default_factory=dict)
    fail_on: int = Severity.ERROR
    pg_version: int | None = None
    project_root: Path | None = None
    sources: tuple[str, ...] = ()

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields replaced (used for command-line flags)."""
        return replace(self, **changes)


_KEYS: Final = {
    "select": "a list of rule ids",
    "ignore": "a list of rule ids",
    "severity": "a table of rule id to 'error', 'warning' or 'info'",
    "exclude_apps": "a list of app labels",
    "baseline": "a table of app label to the last migration name to skip",
    "fail_on": "'error', 'warning', 'info' or 'never'",
    "pg_version": "a PostgreSQL major version number such as 15",
    "vendors": "a list of the database vendors the migrations must run on: postgresql, mysql, sqlite, oracle",
    # Later stages read these; accepted now so one config serves every command.
    "backup_dir": "a directory path",
    "backup_retention_hours": "a number of hours such as 24 (how long pilot backups --prune keeps a backup)",
    "lock_timeout": "a duration such as '2s'",
    "statement_timeout": "a duration such as '5min'",
    "maintain": "true or false: ANALYZE the existing tables a deploy changed, right after it (default true)",
    "fleet": "a table: 'schemas' (a callable or its dotted path) or 'sql' (a query), for pilot deploy --fleet",
    "FLEET": "the same as 'fleet'",
    "tools": ("a table of client tool name (pg_dump, pg_restore, psql, mariadb-dump, mysqldump, mariadb, mysql)"
              " to its absolute path; tools not named are looked up on PATH"),
    "TOOLS": "the same as 'tools'",
}


def project_root() -> Path:
    """settings.BASE_DIR when the project defines it, else the working directory."""
    base = getattr(settings, "BASE_DIR", None)
    return Path(base).resolve() if base else Path.cwd().resolve()


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config() -> Config:
    """Merge pyproject.toml and settings.MIGRATION_PILOT into a Config."""
    root = project_root()
    merged: dict[str, tuple[Any, str]] = {}
    pyproject = find_pyproject(root)
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Malformed TOML: {exc}", source=str(pyproject)) from exc
        section = data.get("tool", {}).get("migration_pilot", {})
        if not isinstance(section, dict):
            raise ConfigError("[tool.migration_pilot] must be a table", source=str(pyproject))
        where = f"[tool.migration_pilot] of {pyproject}"
        merged.update({key: (val, where) for key, val in section.items()})
    setting = getattr(settings, "MIGRATION_PILOT", None)
    if setting is not None:
        if not isinstance(setting, Mapping):
            raise ConfigError("MIGRATION_PILOT must be a dict", source="settings.MIGRATION_PILOT")
        merged.update({key: (val, "settings.MIGRATION_PILOT") for key, val in setting.items()})
    return _build(merged, root)


def _build(merged: Mapping[str, tuple[Any, str]], root: Path) -> Config:
    for key, (_, source) in merged.items():
        if key not in _KEYS:
            valid = ", ".join(sorted(_KEYS))
            raise ConfigError(f"Unknown key {key!r}; valid keys are {valid}", source=source)
    config = Config(project_root=root, sources=tuple(sorted({s for _, s in merged.values()})))
    changes: dict[str, Any] = {}
    for key, (val, source) in merged.items():
        changes.update(_parse_key(key, val, source))
    return config.with_overrides(**changes)


def _parse_key(key: str, val: Any, source: str) -> dict[str, Any]:
    from migration_pilot.lint.registry import resolve_rule_ids

    where = f"{source}, key {key!r}"
    if key in {"select", "ignore"}:
        ids = resolve_rule_ids(_str_list(val, key, source), source=where)
        return {key: ids}
    if key == "exclude_apps":
        return {key: frozenset(_str_list(val, key, source))}
    if key == "severity":
        table = _str_table(val, key, source)
        resolve_rule_ids(table, source=where)
        try:
            return {key: {rule: Severity.parse(level) for rule, level in table.items()}}
        except ValueError as exc:
            raise ConfigError(f"Bad value for {key!r}: {exc}", source=source) from None
    if key == "baseline":
        return {key: _str_table(val, key, source)}
    if key == "fail_on":
        return {key: parse_fail_on(val, source=where)}
    if key == "pg_version":
        return {key: parse_pg_version(val, source=where)}
    return {}


def parse_fail_on(val: Any, *, source: str) -> int:
    """'error' | 'warning' | 'info' | 'never' to a threshold."""
    if isinstance(val, str) and val.strip().lower() == "never":
        return FAIL_NEVER
    if not isinstance(val, str):
        raise ConfigError(f"fail_on must be {_KEYS['fail_on']}, not {val!r}", source=source)
    try:
        return int(Severity.parse(val))
    except ValueError as exc:
        raise ConfigError(f"Bad fail_on: {exc} or 'never'", source=source) from None


def parse_pg_version(val: Any, *, source: str) -> int:
    """A PostgreSQL major version: 10 or later (accepts '15' and '15.4')."""
    text = str(val).strip()
    major = text.split(".", 1)[0]
    if not major.isdigit() or not 10 <= int(major) <= 99:
        raise ConfigError(
            f"Bad PostgreSQL version {val!r}: give a major version such as 15", source=source
        )
    return int(major)


def _str_list(val: Any, key: str, source: str) -> list[str]:
    if isinstance(val, str):
        val = [part for part in val.replace(",", " ").split() if part]
    if not isinstance(val, list | tuple | set | frozenset) or not all(
        isinstance(v, str) for v in val
    ):
        raise ConfigError(f"{key!r} must be {_KEYS[key]}, not {val!r}", source=source)
    return list(val)


def _str_table(val: Any, key: str, source: str) -> dict[str, str]:
    if not isinstance(val, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in val.items()
    ):
        raise ConfigError(f"{key!r} must be {_KEYS[key]}, not {val!r}", source=source)
    return dict(val)


def known_rule_ids() -> set[str]:
    """Ids of every registered rule."""
    from migration_pilot.lint.registry import rules_by_id

    return set(rules_by_id())
