"""Turn timing and the cache countdown, driven by a fake clock."""

from __future__ import annotations

import json

import pytest

from chat_tui.core.metrics import (
    CacheClock,
    CacheKey,
    TurnMetrics,
    TurnTimer,
    format_countdown,
)
from chat_tui.core.models import lookup_model
from chat_tui.providers.events import Usage


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_ttft_is_start_to_first_non_empty_text() -> None:
    clock = FakeClock()
    timer = TurnTimer(clock)
    assert timer.start() == 1000.0
    clock.advance(0.3)
    timer.on_text("")  # the empty role chunk does not count
    clock.advance(0.2)
    timer.on_text("Hello")
    clock.advance(1.0)
    timer.on_text(" world")  # later chunks do not move it
    assert timer.ttft_s == pytest.approx(0.5)
    assert timer.total_s is None
    assert timer.elapsed_s == pytest.approx(1.5)
    clock.advance(0.5)
    timer.finish()
    clock.advance(10)
    timer.finish()  # a second finish changes nothing
    assert timer.total_s == pytest.approx(2.0)
    assert timer.elapsed_s == pytest.approx(2.0)
    # 30 tokens over the 1.5 s after the first token
    assert timer.tokens_per_s(30) == pytest.approx(20.0)


def test_no_text_means_no_ttft_and_no_rate() -> None:
    clock = FakeClock()
    timer = TurnTimer(clock)
    timer.start()
    clock.advance(2)
    timer.finish()
    assert timer.ttft_s is None
    assert timer.total_s == pytest.approx(2)
    assert timer.tokens_per_s(10) is None


def test_rate_unknown_or_too_short() -> None:
    clock = FakeClock()
    timer = TurnTimer(clock)
    timer.start()
    timer.on_text("x")
    clock.advance(0.05)
    timer.finish()
    assert timer.tokens_per_s(5) is None  # 50 ms is no basis for a rate
    timer.start()  # restart resets everything
    assert timer.ttft_s is None
    timer.on_text("x")
    clock.advance(2)
    timer.finish()
    assert timer.tokens_per_s(None) is None
    assert timer.tokens_per_s(0) is None
    assert timer.tokens_per_s(100) == pytest.approx(50)


def test_timer_ignores_calls_before_start() -> None:
    timer = TurnTimer(FakeClock())
    timer.on_text("x")
    timer.finish()
    assert (timer.ttft_s, timer.total_s, timer.elapsed_s, timer.started_at) == (None,) * 4


def test_turn_metrics_record_and_json() -> None:
    clock = FakeClock()
    timer = TurnTimer(clock)
    timer.start()
    clock.advance(0.4)
    timer.on_text("Hi")
    clock.advance(0.6)
    timer.finish()
    usage = Usage(input_tokens=25, cache_read_tokens=4312, output_tokens=14, raw={"x": 1})
    info = lookup_model("anthropic", "claude-haiku-4-5")
    m = TurnMetrics.from_turn("anthropic", "claude-haiku-4-5", timer, usage, info)
    assert m.ttft_s == pytest.approx(0.4) and m.total_s == pytest.approx(1.0)
    assert m.tokens_per_s == pytest.approx(14 / 0.6)
    assert m.cost.usd == pytest.approx(526.2 / 1e6)
    d = json.loads(json.dumps(m.as_dict()))
    assert d["usage"]["cache_read_tokens"] == 4312
    assert d["usage"]["cache_write_tokens"] is None
    assert "raw" not in d["usage"]
    assert d["cost"]["saving_usd"] == pytest.approx((4407 - 526.2) / 1e6)


KEY = CacheKey("anthropic", None, "claude-haiku-4-5", "abc123")


def test_cache_clock_cold_warm_expiring_expired() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    assert caches.state(KEY).status == "cold"
    assert caches.state(KEY).seconds_left is None
    started = clock()
    clock.advance(2.0)  # the response took 2 s; the TTL runs from the request's start
    caches.record(KEY, 300, started_at=started)
    state = caches.state(KEY)
    assert (state.status, state.ttl_s) == ("warm", 300)
    assert state.seconds_left == pytest.approx(298)
    clock.advance(237.75)  # 60.25 s left (binary-exact steps keep the float maths exact)
    assert caches.state(KEY).status == "warm"
    clock.advance(0.25)  # exactly 60 s left: min(60, 20% of 300)
    assert caches.state(KEY).status == "expiring"
    clock.advance(59.5)
    assert caches.state(KEY).status == "expiring"
    clock.advance(0.5)
    state = caches.state(KEY)
    assert (state.status, state.seconds_left) == ("expired", 0.0)


def test_expiring_threshold_is_20_percent_of_short_ttls() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    caches.record(KEY, 100, started_at=clock())
    clock.advance(79)  # 21 s left > 20 s
    assert caches.state(KEY).status == "warm"
    clock.advance(1.5)
    assert caches.state(KEY).status == "expiring"


def test_one_hour_cache_expires_in_its_last_minute() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    caches.record(KEY, 3600, started_at=clock())
    clock.advance(3539)
    assert caches.state(KEY).status == "warm"
    clock.advance(2)
    assert caches.state(KEY).status == "expiring"


def test_a_read_restarts_the_ttl() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    caches.record(KEY, 300, started_at=clock())
    clock.advance(280)
    assert caches.state(KEY).status == "expiring"
    caches.record(KEY, 300, started_at=clock())  # a cache hit
    assert caches.state(KEY).seconds_left == pytest.approx(300)
    assert caches.state(KEY).status == "warm"
    clock.advance(301)
    assert caches.state(KEY).status == "expired"
    caches.record(KEY, 300, started_at=clock())  # written again
    assert caches.state(KEY).status == "warm"


def test_an_older_request_finishing_late_does_not_shorten_the_ttl() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    caches.record(KEY, 300, started_at=1010.0)
    caches.record(KEY, 300, started_at=1000.0)
    assert caches.state(KEY).seconds_left == pytest.approx(310)


def test_keys_are_independent_and_switching_model_is_cold() -> None:
    clock = FakeClock()
    caches = CacheClock(clock)
    caches.record(KEY, 300, started_at=clock())
    other_model = KEY._replace(model="claude-sonnet-4-5")
    other_prefix = KEY._replace(prefix_hash="def456")
    other_server = KEY._replace(base_url="http://localhost:8080")
    for key in (other_model, other_prefix, other_server):
        assert caches.state(key).status == "cold"
    clock.advance(200)
    caches.record(other_prefix, 3600, started_at=clock())
    clock.advance(150)
    assert caches.state(KEY).status == "expired"
    assert caches.state(other_prefix).status == "warm"
    caches.forget(other_prefix)
    assert caches.state(other_prefix).status == "cold"
    assert caches.state(KEY).status == "expired"
    caches.clear()
    assert caches.state(KEY).status == "cold"


def test_record_rejects_a_non_positive_ttl() -> None:
    with pytest.raises(ValueError):
        CacheClock(FakeClock()).record(KEY, 0, started_at=0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (300, "05:00"),
        (299.2, "05:00"),
        (299.0, "04:59"),
        (59.01, "01:00"),
        (0.4, "00:01"),
        (0.0, "00:00"),
        (-3.0, "00:00"),
        (3599.2, "1:00:00"),
        (3600, "1:00:00"),
        (3661, "1:01:01"),
        (36000, "10:00:00"),
        (float("inf"), "—"),
    ],
)
def test_format_countdown(seconds: float | None, text: str) -> None:
    assert format_countdown(seconds) == text


def test_countdown_reads_zero_exactly_at_expiry() -> None:
    clock = FakeClock(0.0)
    caches = CacheClock(clock)
    caches.record(KEY, 300, started_at=0.0)
    clock.advance(299.5)
    assert format_countdown(caches.state(KEY).seconds_left) == "00:01"
    clock.advance(0.5)
    assert format_countdown(caches.state(KEY).seconds_left) == "00:00"
