"""`--since REF`: the migration files added or changed since a git ref."""

from __future__ import annotations

import subprocess
from pathlib import Path

from migration_pilot.exceptions import GitError


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise GitError("--since needs git, which is not installed or not on PATH.") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed")
    return done.stdout


def changed_paths(ref: str, cwd: Path) -> frozenset[str]:
    """Absolute paths of files changed since `ref`, plus untracked files."""
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    except GitError:
        raise GitError(
            f"--since needs a git repository, but {cwd} is not inside one."
            " Run from the project's checkout or drop --since."
        ) from None
    if ref.startswith("-"):
        raise GitError(f"Bad git ref {ref!r} for --since: a ref cannot start with '-'.")
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except GitError:
        raise GitError(
            f"Unknown git ref {ref!r} for --since. Use a branch, tag or commit,"
            " e.g. --since origin/main (fetch it first in CI)."
        ) from None
    changed = _git(["diff", "--name-only", ref, "--"], top).splitlines()
    untracked = _git(["ls-files", "--others", "--exclude-standard"], top).splitlines()
    return frozenset(str((top / name).resolve()) for name in [*changed, *untracked] if name)
