"""Batch size adapted to a target batch time: start small, grow while batches are fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# One batch may change the size by at most this factor, so one odd batch
# (a cold cache, a checkpoint flush) cannot swing the next one far.
MAX_STEP: Final = 2.0


@dataclass(slots=True)
class BatchSizer:
    """The next batch's row count from the last batch's rows and time spent working.

    Time spent waiting on locks is left out by the caller: it says nothing about
    how many rows fit in the target time, and it is throttled separately.
    """

    target_s: float
    size: int
    minimum: int = 10
    maximum: int = 1_000_000

    def __post_init__(self) -> None:
        self.minimum = max(1, min(self.minimum, self.maximum))
        self.size = self._clamp(self.size)

    def _clamp(self, value: float) -> int:
        return int(max(self.minimum, min(self.maximum, value)))

    def observe(self, rows: int, work_s: float) -> int:
        """Record one batch; returns the size to use next."""
        if rows <= 0:
            return self.size
        ideal = self.size * MAX_STEP if work_s <= 0 else rows / work_s * self.target_s
        self.size = self._clamp(max(self.size / MAX_STEP, min(self.size * MAX_STEP, ideal)))
        return self.size

    def shrink(self) -> int:
        """Halve the size after a lock timeout or lock wait; returns the new size."""
        self.size = self._clamp(self.size / 2)
        return self.size
