"""Post-deploy checks: the project's own smoke commands, run after apply and verify.

`pilot deploy --check "python manage.py check --deploy"` runs each command (split
with shlex, no shell) once the migrations are applied and verified. A command that
exits non-zero, cannot start or outlives its timeout fails the deploy, which then
recovers as `--on-failure` says. Output is kept so the failure can show it.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from migration_pilot.exceptions import ConfigError
from migration_pilot.pipeline.events import Event, EventSink, ignore

DEFAULT_CHECK_TIMEOUT: float = 120.0
OUTPUT_TAIL_CHARS: int = 2000


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check command: how it ended and what it printed."""

    command: str
    exit_code: int | None
    """None when the command could not start or timed out."""
    output: str
    duration_s: float
    error: str | None = None
    """Why the check failed when it has no exit code (timeout, not found)."""

    @property
    def passed(self) -> bool:
        """The command ran to the end and exited 0."""
        return self.exit_code == 0

    def describe(self) -> str:
        """One line: which check failed and how."""
        if self.error:
            return f"check {self.command!r} {self.error}"
        return f"check {self.command!r} exited {self.exit_code}"


def parse_check(command: str) -> list[str]:
    """The argv of one `--check` value; an empty or unbalanced command is a usage error."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"Bad --check {command!r}: {exc}; quote the command as a shell would",
                          source="--check") from exc
    if not argv:
        raise ConfigError("Bad --check '': give a command, such as 'python manage.py check --deploy'",
                          source="--check")
    return argv


def run_check(command: str, *, timeout: float = DEFAULT_CHECK_TIMEOUT) -> CheckResult:
    """Run one check command without a shell; stdout and stderr together, stdin closed."""
    argv = parse_check(command)
    started = time.monotonic()
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout if timeout > 0 else None, check=False)
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode(errors="replace")
        return CheckResult(command, None, output, time.monotonic() - started,
                           error=f"timed out after {timeout:g}s (--check-timeout)")
    except OSError as exc:
        return CheckResult(command, None, "", time.monotonic() - started,
                           error=f"could not start: {exc.strerror or exc}")
    return CheckResult(command, done.returncode, done.stdout, time.monotonic() - started)


def run_checks(commands: Sequence[str], *, timeout: float = DEFAULT_CHECK_TIMEOUT,
               emit: EventSink = ignore) -> str | None:
    """Run the checks in order, stopping at the first failure; its one-line reason, or None."""
    for command in commands:
        emit(Event("check_started", f"Running check: {command}"))
        result = run_check(command, timeout=timeout)
        if result.passed:
            emit(Event("check_passed", f"Check passed ({result.duration_s:.1f}s): {command}"))
            continue
        output = result.output.rstrip()
        if len(output) > OUTPUT_TAIL_CHARS:
            output = "..." + output[-OUTPUT_TAIL_CHARS:]
        shown = f"\n{output}" if output else " (no output)"
        emit(Event("check_failed", f"Check failed: {result.describe()}; its output:{shown}",
                   {"command": command, "check_exit_code": result.exit_code, "output": output}))
        return result.describe()
    return None
