"""Which sessions the monitor watches, and who is (transitively) blocked by them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from migration_pilot.monitor.report import LockWait

APPLICATION_PREFIX: Final = "migration-pilot"
"""application_name prefix of every session migration-pilot opens (PostgreSQL)."""

MONITOR_APPLICATION: Final = f"{APPLICATION_PREFIX} monitor"
"""The monitor's own session name: monitors never watch each other."""


@dataclass(frozen=True, slots=True)
class Watch:
    """Backend pids (PostgreSQL) or connection ids (MySQL) to watch, or an application_name prefix.

    A prefix is resolved on every sample, so a deploy that reconnects keeps
    being watched. MySQL and MariaDB have no session names: there a prefix
    means "every session", and only lock waits the server attributes (InnoDB
    row locks) or that a running watched statement explains are counted.
    """

    pids: frozenset[int] = frozenset()
    prefix: str | None = None

    @classmethod
    def of(cls, value: int | str | Iterable[int] | Watch | None) -> Watch:
        """Normalise `watch=`: a pid, pids, a name prefix, or None (every migration-pilot session)."""
        if isinstance(value, Watch):
            return value
        if value is None:
            return cls(prefix=APPLICATION_PREFIX)
        if isinstance(value, bool):
            raise TypeError("watch must be a backend pid, pids or an application_name prefix, not a bool")
        if isinstance(value, int):
            return cls(pids=frozenset({value}))
        if isinstance(value, str):
            return cls(prefix=value)
        return cls(pids=frozenset(int(pid) for pid in value))

    def like_pattern(self) -> str | None:
        """The prefix as a LIKE pattern with its wildcards escaped (None without a prefix)."""
        if self.prefix is None:
            return None
        escaped = self.prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped + "%"


def blocked_by_watched(waiters: Sequence[LockWait], watched: frozenset[int]) -> list[LockWait]:
    """The waiters whose chain of blockers leads to a watched session, each with `root` set to it.

    A session queued behind one that waits on the migration is the
    migration's doing too (the lock queue), so blocking is followed
    transitively. Watched sessions themselves are never in the result.
    """
    roots: dict[int, int] = {}
    pending = [w for w in waiters if w.pid not in watched]
    changed = True
    while changed:
        changed = False
        for waiter in pending:
            if waiter.pid in roots:
                continue
            for blocker in waiter.blocked_by:
                root = blocker if blocker in watched else roots.get(blocker)
                if root is not None:
                    roots[waiter.pid] = root
                    changed = True
                    break
    return [replace(w, root=roots[w.pid]) for w in pending if w.pid in roots]
