"""The token bucket and the per-client rate limiter, on a hand-driven clock."""

from __future__ import annotations

import pytest

from sketchssl.errors import ConfigError
from sketchssl.serve.limits import RateLimiter, ServerLimits, TokenBucket


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=2.0, capacity=3, now=10.0)
    assert [bucket.take(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(10.0) == pytest.approx(0.5)  # one token takes 1 / rate seconds
    assert bucket.take(10.25) == pytest.approx(0.25)  # half a token earned, half to go
    assert bucket.take(10.5) == 0.0
    # idle for long: refilled to capacity, never beyond
    assert [bucket.take(100.0) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_token_bucket_ignores_a_clock_going_backwards():
    bucket = TokenBucket(rate=1.0, capacity=1, now=5.0)
    assert bucket.take(5.0) == 0.0
    assert bucket.take(4.0) == pytest.approx(1.0)  # no tokens from negative elapsed time


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_keeps_one_bucket_per_client():
    clock = FakeClock()
    limiter = RateLimiter(ServerLimits(rate=1.0, burst=2), clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.acquire("b") == 0.0  # another client is not slowed down by a
    clock.now = 1.0
    assert limiter.acquire("a") == 0.0


def test_rate_limiter_forgets_idle_clients_beyond_its_bound():
    clock = FakeClock()
    limiter = RateLimiter(ServerLimits(rate=1.0, burst=1, max_clients=2), clock)
    limiter.acquire("a")
    limiter.acquire("b")
    clock.now = 5.0  # a and b are full again
    limiter.acquire("c")
    assert set(limiter._buckets) == {"c"}
    # when nobody is idle, the oldest half goes
    limiter.acquire("d")
    clock.now = 5.1
    limiter.acquire("e")
    assert "c" not in limiter._buckets and {"d", "e"} <= set(limiter._buckets)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"rate": 0.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"burst": 0}, "burst"),
        ({"max_clients": 0}, "max_clients"),
    ],
)
def test_server_limits_refuse_nonsense(options, key):
    with pytest.raises(ConfigError, match=key):
        ServerLimits(**options)
