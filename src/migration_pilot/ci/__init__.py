"""`pilot ci init`: the runbook's CI jobs as a GitHub Actions workflow or a GitLab CI pipeline.

context.py    what the workflow is filled in with (settings module, import root, Python, database engine)
templates.py  the workflow texts
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from migration_pilot.ci.context import CiContext, CiSetupError, detect_context, repository_root
from migration_pilot.ci.templates import DEFAULT_PATHS, EXIT_CODES, TEMPLATES

__all__ = ["DEFAULT_PATHS", "EXIT_CODES", "CiContext", "CiSetupError", "Written", "detect_context", "render",
           "repository_root", "write_workflow"]


@dataclass(frozen=True, slots=True)
class Written:
    """A workflow file written."""

    path: Path
    context: CiContext
    replaced: bool


def render(provider: str, context: CiContext) -> str:
    """The workflow text for `provider` (github or gitlab)."""
    try:
        return TEMPLATES[provider](context)
    except KeyError:
        raise CiSetupError(f"Unknown CI {provider!r}: choose github or gitlab.") from None


def write_workflow(provider: str, *, start: Path, output: Path | None = None, force: bool = False) -> Written:
    """Render and write the workflow: atomically, and never over an existing file unless `force`."""
    root = repository_root(start)
    context = detect_context(root)
    text = render(provider, context)
    path = (output if output is not None else root / DEFAULT_PATHS[provider]).absolute()
    existed = path.exists()
    if existed and not force:
        raise CiSetupError(f"{path} exists; pass --force to replace it, or --output to write elsewhere.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CiSetupError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        temp.chmod(0o644)
        if force:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if the file appeared meanwhile: never overwrite without --force
    except FileExistsError:
        raise CiSetupError(f"{path} exists; pass --force to replace it, or --output to write elsewhere.") from None
    except OSError as exc:
        raise CiSetupError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return Written(path, context, existed)
