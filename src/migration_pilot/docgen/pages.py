"""Writing generated pages atomically, and checking them for `--check`.

All or nothing: every directory is created and proved writable, then every
changed page is written to a temporary file beside its target, and only when
all of them are written are they renamed into place (a rename is atomic on
POSIX). A failure before the renames removes the temporary files and leaves
the old pages untouched. Pages with unchanged content are not rewritten.
A generated page carries a marker; only files with the marker count as
pages, so `--check` and the clean-up of pages of deleted migrations never
touch a file somebody wrote by hand.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from migration_pilot.docgen.migrations import GENERATOR, MARKER
from migration_pilot.exceptions import PilotError


class DocsOutputError(PilotError, OSError):
    """The output directory cannot be created or written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return (f"Cannot write the migration docs to {self.path}: {self.reason}."
                " Choose a writable directory with --output DIR, or fix its permissions.")


@dataclass(slots=True)
class PageStatus:
    """How the pages on disk compare with the ones the migrations produce."""

    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """Whether nothing is missing, stale or left over."""
        return not (self.missing or self.stale or self.orphaned)


def _generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith(MARKER) or f'"generator": "{GENERATOR}"' in head


def _existing(directory: Path, extension: str, app_dirs: Collection[str], root_index: bool) -> set[str]:
    """Generated pages already in the directories this run owns, as relative paths."""
    found: set[str] = set()
    if not directory.is_dir():
        return found
    folders = [directory / app for app in app_dirs]
    for folder in folders:
        if folder.is_dir():
            found.update(p.relative_to(directory).as_posix() for p in folder.glob(f"*{extension}")
                         if p.is_file() and _generated(p))
    index = directory / f"index{extension}"
    if root_index and index.is_file() and _generated(index):
        found.add(index.name)
    if root_index:
        # Apps that no longer exist: their folders still hold generated pages.
        for folder in sorted(p for p in directory.iterdir() if p.is_dir() and p.name not in app_dirs):
            found.update(p.relative_to(directory).as_posix() for p in folder.glob(f"*{extension}")
                         if p.is_file() and _generated(p))
    return found


def compare(directory: Path, pages: dict[str, str], extension: str, app_dirs: Collection[str],
            root_index: bool) -> PageStatus:
    """Missing, stale, orphaned and current pages (orphans only in folders this run owns)."""
    status = PageStatus()
    for relative, content in pages.items():
        path = directory / relative
        try:
            on_disk = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            status.missing.append(relative)
            continue
        except (OSError, UnicodeDecodeError):
            status.stale.append(relative)
            continue
        (status.current if on_disk == content else status.stale).append(relative)
    status.orphaned = sorted(_existing(directory, extension, app_dirs, root_index) - set(pages))
    return status


def write(directory: Path, pages: dict[str, str], extension: str, app_dirs: Collection[str],
          root_index: bool) -> PageStatus:
    """Bring `directory` up to date: write changed pages, remove orphaned ones; all or nothing."""
    status = compare(directory, pages, extension, app_dirs, root_index)
    changed = [*status.missing, *status.stale]
    folders = sorted({(directory / relative).parent for relative in changed})
    for folder in [directory, *folders]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DocsOutputError(folder, exc.strerror or str(exc)) from None
        if not folder.is_dir():
            raise DocsOutputError(folder, "it exists and is not a directory")
    temporary: list[tuple[Path, Path]] = []
    try:
        for relative in changed:
            target = directory / relative
            handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            temporary.append((Path(temp_name), target))
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(pages[relative])
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temp_name, 0o644)
    except OSError as exc:
        for temp, _ in temporary:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise DocsOutputError(directory, exc.strerror or str(exc)) from None
    for temp, target in temporary:
        os.replace(temp, target)
    for relative in status.orphaned:
        with contextlib.suppress(FileNotFoundError):
            (directory / relative).unlink()
    return status
