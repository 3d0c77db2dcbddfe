"""SIGTERM and SIGINT during a deploy: stop the statement, record the run, free the lock (C3).

A cancelled CI job, a Kubernetes preStop or Ctrl-C must not leave a statement
running on the server, a run recorded as still running, or a deploy lock
behind. While a deploy runs, both signals raise DeployInterrupted in the main
thread; psycopg answers that by cancelling the query on the server, and the
migration's transaction rolls back as for any exception. The MySQL driver
waits for a query inside C, where no Python handler runs until the statement
ends, so for MySQL a watcher thread, woken through the signal wake-up file
descriptor the moment the signal arrives, issues KILL QUERY from a second
connection. The first signal restores the default handlers: a second one ends
the process at once, as a person pressing Ctrl-C twice expects.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DeployInterrupted(SystemExit):
    """A signal stopped the deploy; the exit code is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        """SIGTERM or SIGINT."""
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def interruptible(cancel: Callable[[], None] | None = None) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into DeployInterrupted for the block; `cancel` runs on arrival, off-thread.

    Outside the main thread (a deploy started from a worker) signals cannot be
    handled there, and the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def handler(signum: int, frame: Any) -> None:
        for each in SIGNALS:
            signal.signal(each, signal.SIG_DFL)
        raise DeployInterrupted(signum)

    watcher = _Watcher(cancel) if cancel is not None else None
    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        if watcher is not None:
            watcher.stop()


class _Watcher:
    """Calls `cancel` as soon as SIGINT/SIGTERM arrives, even while the main thread waits inside C."""

    def __init__(self, cancel: Callable[[], None]) -> None:
        self.cancel = cancel
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.previous_fd = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self.thread = threading.Thread(target=self._watch, name="pilot-signal-watcher", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while True:
            data = os.read(self.read_fd, 1)
            if not data or data[0] == 0:  # stop() woke us
                return
            if data[0] in SIGNALS:
                with contextlib.suppress(Exception):  # best effort: the statement may already be over
                    self.cancel()
                return

    def stop(self) -> None:
        signal.set_wakeup_fd(self.previous_fd)
        with contextlib.suppress(OSError):
            os.write(self.write_fd, b"\0")
        self.thread.join(timeout=5)
        os.close(self.read_fd)
        os.close(self.write_fd)


def mysql_canceller(connection: Any) -> Callable[[], None]:
    """KILL QUERY for the statement `connection` is running, sent from a connection of its own.

    The server's id for the session is read now, in the thread that owns the
    connection: the driver refuses any call from another thread while a query
    runs. At cancel time the id is used only if the driver connection is still
    the same object, so a reconnect can never make us kill someone else's query.
    """
    from migration_pilot.pipeline.lock import new_raw_connection

    connection.ensure_connection()
    raw = connection.connection
    thread_id = int(raw.thread_id())

    def cancel() -> None:
        if connection.connection is not raw:
            return
        other = new_raw_connection(connection)
        try:
            cursor = other.cursor()
            cursor.execute("KILL QUERY %s", [thread_id])
            cursor.close()
        finally:
            other.close()

    return cancel
