"""An injectable wall clock.

Everything in the simulator that asks "what time is it?" (token ``iat``/``exp``, refresh-token
expiry, rate-limit windows, fault schedules) asks a :class:`Clock` that it was handed, never
``time.time()`` directly. Tests and the admin API then move time by changing the clock's offset
instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["LATEST_TIME", "Clock", "ClockOutOfRange"]

# Outside 1970..9999 timestamps no longer convert to dates, and every token request would fail.
LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z


class ClockOutOfRange(ValueError):
    """A move that would take the clock outside 1970..9999."""


class Clock:
    """Wall clock with an adjustable offset so tests and the admin API move time instead of sleeping.

    ``now()`` is ``base() + offset``. The offset only ever changes through :meth:`advance`,
    :meth:`set` and :meth:`reset`; the base keeps ticking, so an advanced clock still moves forward
    in real time from its new position.
    """

    __slots__ = ("_base", "_lock", "_offset")

    def __init__(self, base: Callable[[], float] = time.time, offset: float = 0.0) -> None:
        self._base = base
        self._offset = _finite(offset, "offset")
        # Only writers take the lock (so that two concurrent ``advance`` calls both count);
        # ``now()`` reads one attribute, which is atomic.
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current simulated time, seconds since the epoch."""
        return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds`` (negative moves it back)."""
        seconds = _finite(seconds, "seconds")
        with self._lock:
            _check_range(self._base() + self._offset + seconds)
            self._offset += seconds

    def set(self, timestamp: float) -> None:
        """Make ``now()`` equal ``timestamp`` (the clock keeps ticking from there)."""
        timestamp = _finite(timestamp, "timestamp")
        _check_range(timestamp)
        with self._lock:
            self._offset = timestamp - self._base()

    @property
    def offset(self) -> float:
        """Seconds between simulated time and the base clock."""
        return self._offset

    def reset(self) -> None:
        """Back to real time (offset 0)."""
        with self._lock:
            self._offset = 0.0

    def __repr__(self) -> str:
        return f"Clock(offset={self._offset!r})"


def _finite(value: float, name: str) -> float:
    """``value`` as a float, refusing bools, NaN and infinities (they would poison every later time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def _check_range(timestamp: float) -> None:
    if not 0 <= timestamp <= LATEST_TIME:
        raise ClockOutOfRange(f"the clock must stay between Unix time 0 and {LATEST_TIME:.0f} (1970 to 9999)")
