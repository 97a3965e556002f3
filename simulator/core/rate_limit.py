"""A per-client request budget for the token endpoint: Spotnana's documented rate limit, modeled.

Spotnana documents that the endpoint is rate limited and that partners must reuse tokens and back
off on 429 (S6, S10); it does not publish the numbers. So the limit is off unless configured
(``[rate_limit] requests = N, per_seconds = S``), and how it counts is this one choice: a token
bucket per ``client_id`` holding ``requests`` tokens, refilled evenly over ``per_seconds``.
"""

from __future__ import annotations

import math
import threading

from spotnana_sim.core.clock import Clock


class RateLimiter:
    def __init__(self, requests: int, per_seconds: float, clock: Clock) -> None:
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and per_seconds > 0")
        self.capacity = float(requests)
        self.refill_per_second = requests / per_seconds
        self.clock = clock
        self._buckets: dict[str | None, tuple[float, float]] = {}  # client → (tokens, when counted)
        self._lock = threading.Lock()

    def retry_after(self, client_id: str | None) -> int | None:
        """Take one request from the client's budget: None if allowed, else whole seconds to wait."""
        now = self.clock.now()
        with self._lock:
            tokens, counted = self._buckets.get(client_id, (self.capacity, now))
            # max(): the admin clock may have moved back; never refill for negative time.
            tokens = min(self.capacity, tokens + max(0.0, now - counted) * self.refill_per_second)
            if tokens >= 1.0:
                self._buckets[client_id] = (tokens - 1.0, now)
                return None
            self._buckets[client_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.refill_per_second))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
