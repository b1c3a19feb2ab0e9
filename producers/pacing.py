"""Keep an offered rate: sleep so that ``n`` units have taken ``n / rate`` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Paces work to ``rate`` units per second (0 = as fast as possible)."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._start = monotonic()
        self._done = 0.0

    def wait(self, units: float = 1.0) -> None:
        """Account for ``units`` about to be sent, sleeping first if ahead of schedule."""
        self._done += units
        if self.rate <= 0:
            return
        ahead = self._start + self._done / self.rate - self._monotonic()
        if ahead > 0.001:
            self._sleep(ahead)

    @property
    def elapsed(self) -> float:
        """Seconds since the pacer was created."""
        return self._monotonic() - self._start
