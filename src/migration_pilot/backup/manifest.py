"""The manifest: what a backup is, written next to it as JSON.

A manifest is the only way a backup enters the catalogue: a file in the
backup directory without one is never listed, verified or restored (a
half-written dump, or something dropped there by hand). It records facts
about the database (vendor, versions, database name, the applied migration
set) and never credentials or connection OPTIONS.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from migration_pilot.backup.errors import CorruptBackupError

SCHEMA_VERSION: Final = 1
ID_PATTERN: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_]{1,40}-[0-9a-f]{6}$")
"""Ids are plain, portable file names: no separators, no dots, no leading dash."""

FORMATS: Final = {
    "pg-custom": ".dump",
    "pg-directory": ".dumpdir",
    "sqlite": ".sqlite3",
    "mysql-sql": ".sql",
}


def _position(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("write_position is not an object")
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """One backup: its file, its checksum and the database state it holds."""

    id: str
    created_at: datetime
    alias: str
    vendor: str
    database: str
    server_version: str
    tool_versions: dict[str, str]
    format: str
    compression: str
    size: int
    sha256: str
    applied_migrations: list[list[str]]
    label: str | None = None
    duration_s: float = 0.0
    pilot_version: str = ""
    write_position: dict[str, Any] | None = None
    """Where the database's writes stood when the dump started (backup/position.py); None from older versions."""
    tool_paths: dict[str, str] = field(default_factory=dict)
    """The absolute path of each client tool that made and checked the backup (S13); empty for SQLite."""
    roles: list[str] | None = None
    """PostgreSQL: every role the dump names (owners, grantees, default-privilege roles) (F4)."""
    extensions: dict[str, str] | None = None
    """PostgreSQL: the extensions installed in the database at backup time, name -> version (F4)."""
    large_objects: int | None = None
    """PostgreSQL: how many large objects the dump holds (F4)."""
    directory: Path = field(default=Path("."), compare=False)

    @property
    def file_name(self) -> str:
        """The data file's (or dump directory's) name inside the backup directory."""
        return self.id + FORMATS[self.format]

    @property
    def path(self) -> Path:
        """Where the data is."""
        return self.directory / self.file_name

    @property
    def manifest_path(self) -> Path:
        """Where this manifest is."""
        return self.directory / f"{self.id}.json"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (the directory is where the file lives, not a fact about it)."""
        data = asdict(self)
        data.pop("directory")
        data["created_at"] = self.created_at.isoformat()
        data["file"] = self.file_name
        data["schema_version"] = SCHEMA_VERSION
        return data

    def to_json(self) -> str:
        """The manifest as written to disk and printed by `--format json`."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, directory: Path) -> Manifest:
        """Parse a manifest; anything malformed is a CorruptBackupError naming the file."""
        where = directory / "<manifest>"
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            backup_id = str(data["id"])
            where = directory / f"{backup_id}.json"
            if not ID_PATTERN.match(backup_id):
                raise ValueError(f"malformed id {backup_id!r}")
            if data["format"] not in FORMATS:
                raise ValueError(f"unknown format {data['format']!r}")
            if data.get("file") != backup_id + FORMATS[data["format"]]:
                raise ValueError("the file name does not belong to the id")
            created = datetime.fromisoformat(data["created_at"])
            return cls(
                id=backup_id,
                created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
                alias=str(data["alias"]),
                vendor=str(data["vendor"]),
                database=str(data.get("database", "")),
                server_version=str(data["server_version"]),
                tool_versions={str(k): str(v) for k, v in dict(data["tool_versions"]).items()},
                format=str(data["format"]),
                compression=str(data["compression"]),
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                applied_migrations=[[str(a), str(n)] for a, n in data["applied_migrations"]],
                label=None if data.get("label") is None else str(data["label"]),
                duration_s=float(data.get("duration_s", 0.0)),
                pilot_version=str(data.get("pilot_version", "")),
                write_position=_position(data.get("write_position")),
                tool_paths={str(k): str(v) for k, v in dict(data.get("tool_paths") or {}).items()},
                roles=None if data.get("roles") is None else [str(r) for r in data["roles"]],
                extensions=(None if data.get("extensions") is None
                            else {str(k): str(v) for k, v in dict(data["extensions"]).items()}),
                large_objects=None if data.get("large_objects") is None else int(data["large_objects"]),
                directory=directory,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptBackupError(
                f"Manifest {where} is malformed ({type(exc).__name__}: {exc}).",
                hint="Restore it from a copy, or delete the backup.") from None
