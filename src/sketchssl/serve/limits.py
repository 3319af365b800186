"""What the demo server accepts: drawing size bounds, body size, and a per-client token bucket.

The drawing bounds are fixed constants, so the OpenAPI schema states them; a request within them
is at most about 230 kB of JSON, below the default body limit. The token bucket (Turner 1986;
the classic leaky/token-bucket policer) allows a burst of ``burst`` requests and then ``rate``
requests per second per client address.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sketchssl.errors import ConfigError

__all__ = [
    "COORDINATE_LIMIT",
    "MAX_STROKES",
    "MAX_STROKE_POINTS",
    "MAX_TOTAL_POINTS",
    "ServerLimits",
    "TokenBucket",
    "RateLimiter",
]

#: Most strokes in one drawing.
MAX_STROKES = 256
#: Most points in one stroke.
MAX_STROKE_POINTS = 4096
#: Most points in one drawing, all strokes together.
MAX_TOTAL_POINTS = 16384
#: Coordinates are integers in ``[-COORDINATE_LIMIT, COORDINATE_LIMIT]`` (the int16 range).
COORDINATE_LIMIT = 32767


@dataclass(frozen=True)
class ServerLimits:
    """Request limits of one server.

    Attributes:
        max_body_bytes: largest request body; a larger one gets 413 before it is parsed.
        rate: sustained API requests per second per client address.
        burst: API requests a client may make at once (the bucket's capacity).
        max_clients: client buckets kept; idle (full) buckets are forgotten beyond this.
    """

    max_body_bytes: int = 512 * 1024
    rate: float = 20.0
    burst: int = 40
    max_clients: int = 4096

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ConfigError(f"rate must be a positive number of requests/s, got {self.rate}")
        if self.burst < 1:
            raise ConfigError(f"burst must be at least 1, got {self.burst}")
        if self.max_clients < 1:
            raise ConfigError(f"max_clients must be at least 1, got {self.max_clients}")


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled at ``rate`` per second; a request takes one.

    Args:
        rate: tokens added per second.
        capacity: most tokens held (the burst size); the bucket starts full.
        now: the current time in seconds (monotonic).

    Examples:
        >>> bucket = TokenBucket(rate=1.0, capacity=2, now=0.0)
        >>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)]
        [0.0, 0.0, 1.0]
        >>> bucket.take(1.0)
        0.0
    """

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update (never above capacity)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def take(self, now: float) -> float:
        """Take one token if there is one.

        Returns:
            0.0 when the request may go ahead, else the seconds until a token is there.
        """
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (its client has been idle)."""
        self.refill(now)
        return self.tokens >= self.capacity


class RateLimiter:
    """One :class:`TokenBucket` per client key, thread-safe, with bounded memory.

    Args:
        limits: rate, burst and how many clients to remember.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, limits: ServerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0.0 when ``client`` may make a request now, else the seconds it should wait."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= self.limits.max_clients:
                    self._forget_idle(now)
                bucket = TokenBucket(self.limits.rate, self.limits.burst, now)
                self._buckets[client] = bucket
            return bucket.take(now)

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that are full again; if none is, the oldest half."""
        idle = [key for key, bucket in self._buckets.items() if bucket.full(now)]
        if not idle:
            by_age = sorted(self._buckets, key=lambda key: self._buckets[key].updated)
            idle = by_age[: max(1, len(by_age) // 2)]
        for key in idle:
            del self._buckets[key]
