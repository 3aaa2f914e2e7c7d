"""The per-user token buckets behind chat-api's rate limits, on a fake clock."""

from __future__ import annotations

import pytest

from chat_api.limits.buckets import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=3, clock=clock)
    assert [buckets.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("u") == pytest.approx(1.0)
    clock.now += 0.5
    assert buckets.take("u") == pytest.approx(0.5)  # a refused request spends nothing
    clock.now += 0.5
    assert buckets.take("u") == 0.0
    assert buckets.take("other") == 0.0  # each key has its own bucket


def test_saving_up_stops_at_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock)
    buckets.take("u")
    clock.now += 3600
    assert [buckets.take("u") for _ in range(3)][:2] == [0.0, 0.0]
    assert buckets.take("u") > 0


def test_zero_a_minute_turns_the_limit_off() -> None:
    buckets = TokenBuckets(per_minute=0, burst=1)
    assert not buckets.enabled
    assert all(buckets.take("u") == 0.0 for _ in range(10_000))


def test_memory_is_bounded_by_max_keys() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=5, max_keys=100, clock=clock)
    for user in range(1000):
        buckets.take(user)
    assert len(buckets._buckets) <= 100
    clock.now += 10  # every bucket refilled: all of them can go
    buckets.take("late")
    for user in range(101):
        buckets.take(f"n{user}")
    assert len(buckets._buckets) <= 100
