"""Progress of long backups and restores, as values: the CLI decides how to draw them.

Library code calls `progress(Progress(...))` every half second or so; the
command line turns it into a rich progress bar on a terminal and plain lines
otherwise. A progress callback must be cheap and must not raise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

INTERVAL: Final = 0.5


@dataclass(frozen=True, slots=True)
class Progress:
    """Bytes moved so far in one phase ("backup", "restore", "verify", "checksum")."""

    phase: str
    done_bytes: int
    total_bytes: int | None
    elapsed_s: float
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


class Meter:
    """Measures one phase and reports to a callback (or to nobody)."""

    def __init__(self, phase: str, callback: ProgressCallback | None, total: int | None = None) -> None:
        self.phase = phase
        self.callback = callback
        self.total = total
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        """Report `done` bytes, at most every INTERVAL seconds unless forced."""
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self.last < INTERVAL:
            return
        self.last = now
        self.callback(Progress(self.phase, done, self.total, now - self.started))

    def finish(self, done: int) -> None:
        """The phase is over."""
        if self.callback is not None:
            self.callback(Progress(self.phase, done, self.total, time.monotonic() - self.started, finished=True))


def bytes_on_disk(path: Path) -> int:
    """Size of a file being written, or of a dump directory's files (0 when not there yet)."""
    try:
        if path.is_dir():
            return sum(child.stat().st_size for child in path.iterdir() if child.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def bytes_read_by(pid: int) -> int:
    """How much a child process has read so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def cpu_count() -> int:
    """For --jobs defaults and hints."""
    return os.cpu_count() or 1
