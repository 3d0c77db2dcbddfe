"""Wall time and peak resident memory of one command, as a value (the caller prints).

Peak RSS comes from GNU time (`/usr/bin/time -v`, "Maximum resident set size")
when it exists; otherwise from a tiny Python wrapper that runs the command and
reads resource.getrusage(RUSAGE_CHILDREN), which then covers that one command
and its children only. Either way, the memory is the command's own, not this
script's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(f'Maximum resident set size (kbytes): {kb}\\n')\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class Run:
    """One finished (or timed-out) command."""

    wall: float
    peak_mb: float
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _peak_kb(report: str) -> int:
    for line in report.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1].strip())
    return 0


def run(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float | None = None) -> Run:
    """Run cmd; wall clock from just before the start to just after the exit."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        if GNU_TIME.exists():
            wrapped = [str(GNU_TIME), "-v", "-o", report.name, *cmd]
        else:
            wrapped = [sys.executable, "-c", _WRAPPER, report.name, *cmd]
        started = time.perf_counter()
        # A session of its own, so a timeout kills the tool and not just GNU time.
        proc = subprocess.Popen(wrapped, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            code = None
        except BaseException:  # interrupted: take the tool down with us, it has a session of its own
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - started
        peak = _peak_kb(Path(report.name).read_text())
    return Run(wall=wall, peak_mb=peak / 1024, returncode=code, stdout=stdout, stderr=stderr)
