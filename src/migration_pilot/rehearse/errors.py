"""Errors of `pilot rehearse`: one line each, exit 2."""

from __future__ import annotations

from migration_pilot.exceptions import PilotError


class RehearseError(PilotError, RuntimeError):
    """Bad input or a scratch database that cannot be used: nothing was rehearsed."""

    def __init__(self, problem: str, *, hint: str) -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}"
