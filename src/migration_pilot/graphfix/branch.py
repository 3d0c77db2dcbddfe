"""Which of an app's two leaf migrations is the branch to move, and why.

In order: git (a leaf whose file is not in the tree of the base ref is the branch's;
the base is `--base REF`, else origin/HEAD, origin/main, origin/master, main or master;
the ref's own tree, not its merge-base with HEAD, so a merge still in progress is told
apart too); then a max_migration.txt left with git's conflict markers (the first side
is the one already merged); then the leaf whose migrations' files were written last,
then the higher number.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from migration_pilot.exceptions import GitError
from migration_pilot.types import MigrationKey

# Not the current branch's own upstream: for a pushed feature branch that holds the branch's migrations.
DEFAULT_BASES = ("origin/HEAD", "origin/main", "origin/master", "main", "master")
_NUMBER = re.compile(r"^(\d+)_")


@dataclass(frozen=True, slots=True)
class BranchChoice:
    """The main line's leaf, the branch's leaf, and how the branch was told apart."""

    main: MigrationKey
    branch: MigrationKey
    how: str


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def resolve_base(directory: Path, base: str | None) -> tuple[Path, str] | None:
    """(repository top, ref) for the base; None when there is no repository or default ref.

    An explicit `base` that does not resolve is an error, not a silent fallback.
    """
    top = _git(["rev-parse", "--show-toplevel"], directory)
    if top is None:
        if base is not None:
            raise GitError(f"--base {base} needs a git repository, but {directory} is not inside one."
                           " Drop --base to decide by file times.")
        return None
    root = Path(top.strip())
    if base is not None:
        if base.startswith("-") or _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], root) is None:
            raise GitError(f"Unknown git ref {base!r} for --base. Use a branch, tag or commit,"
                           " e.g. --base origin/main.")
        return root, base
    for candidate in DEFAULT_BASES:
        if _git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], root) is not None:
            return root, candidate
    return None


def files_on_ref(root: Path, ref: str, paths: Sequence[Path]) -> set[Path]:
    """Those of `paths` (absolute) that exist in the tree of `ref`."""
    relative = {}
    for path in paths:
        try:
            relative[str(path.resolve().relative_to(root.resolve()))] = path
        except ValueError:
            continue
    if not relative:
        return set()
    listed = _git(["ls-tree", "-r", "--name-only", ref, "--", *relative], root) or ""
    return {relative[name] for name in listed.splitlines() if name in relative}


def number(name: str) -> int | None:
    """The leading number of a migration name ('0003_note' -> 3), None without one."""
    match = _NUMBER.match(name)
    return int(match.group(1)) if match else None


def conflict_marker_sides(max_file: Path) -> tuple[str, str] | None:
    """(merged side, incoming side) from a max_migration.txt that git left with conflict markers."""
    if not max_file.exists():
        return None
    lines = [line.strip() for line in max_file.read_text(encoding="utf-8").splitlines()]
    if len(lines) < 4 or not lines[0].startswith("<<<<<<<") or not lines[-1].startswith(">>>>>>>"):
        return None
    try:
        middle = lines.index("=======")
    except ValueError:
        return None
    ours = [line for line in lines[1:middle] if line and not line.startswith("|||||||")]
    theirs = [line for line in lines[middle + 1:-1] if line]
    if len(ours) != 1 or len(theirs) != 1:
        return None
    return ours[0], theirs[0]


def choose(app: str, leaves: Sequence[str], sides: dict[str, list[Path]], *, directory: Path,
           base: str | None, max_file: Path) -> BranchChoice:
    """Tell the main line from the branch among two leaves; `sides[leaf]` are that side's own files."""
    first, second = sorted(leaves)
    resolved = resolve_base(directory, base)
    if resolved is not None:
        root, ref = resolved
        leaf_files = {leaf: sides[leaf][-1] for leaf in (first, second)}
        on_base = files_on_ref(root, ref, list(leaf_files.values()))
        merged = [leaf for leaf in (first, second) if leaf_files[leaf] in on_base]
        if len(merged) == 1:
            main = merged[0]
            branch = second if main == first else first
            return BranchChoice((app, main), (app, branch), f"{branch} is not on {ref}")
    markers = conflict_marker_sides(max_file)
    if markers is not None and set(markers) == {first, second}:
        return BranchChoice((app, markers[0]), (app, markers[1]),
                            f"{markers[1]} is the incoming side of max_migration.txt's conflict")

    def newest(leaf: str) -> float:
        return max(path.stat().st_mtime for path in sides[leaf])

    def key(leaf: str) -> tuple[float, int, str]:
        return newest(leaf), number(leaf) or 0, leaf

    main, branch = sorted((first, second), key=key)
    if newest(main) != newest(branch):
        how = f"{branch} has the later file time (no git base told them apart)"
    else:
        how = f"{branch} has the higher number (no git base or file time told them apart)"
    return BranchChoice((app, main), (app, branch), how)


def choose_many(app: str, leaves: Sequence[str], sides: dict[str, list[Path]], *, directory: Path,
                base: str | None) -> tuple[BranchChoice, list[str]]:
    """Three or more leaves: (the main line's leaf and how it was told apart, the branches in the order to move).

    The main line is the one leaf whose files are on the git base; without git (or when
    several are on it) the leaf whose files were written first. The branches follow in
    the order their files were written (then by number), so the newest work goes last.
    """
    def key(leaf: str) -> tuple[float, int, str]:
        return max(path.stat().st_mtime for path in sides[leaf]), number(leaf) or 0, leaf

    ordered = sorted(leaves, key=key)
    resolved = resolve_base(directory, base)
    if resolved is not None:
        root, ref = resolved
        leaf_files = {leaf: sides[leaf][-1] for leaf in ordered}
        on_base = files_on_ref(root, ref, list(leaf_files.values()))
        merged = [leaf for leaf in ordered if leaf_files[leaf] in on_base]
        if len(merged) == 1:
            branches = [leaf for leaf in ordered if leaf != merged[0]]
            return (BranchChoice((app, merged[0]), (app, branches[-1]),
                                 f"{', '.join(branches)} are not on {ref}"), branches)
    branches = ordered[1:]
    return (BranchChoice((app, ordered[0]), (app, branches[-1]),
                         f"{', '.join(branches)} have later file times (no git base told them apart)"), branches)
