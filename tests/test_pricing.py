"""Turn costs, savings and projections, checked against hand-computed figures."""

from __future__ import annotations

import pytest

from chat_tui.core.models import ModelInfo, lookup_model
from chat_tui.core.pricing import (
    UNKNOWN_COST,
    ZERO_COST,
    Cost,
    format_usd,
    monthly_projection,
    turn_cost,
)
from chat_tui.providers.events import Usage

HAIKU = lookup_model("anthropic", "claude-haiku-4-5-20251001")
# tests/fixtures/sse/anthropic_1_cache_write.sse and anthropic_2_cache_read.sse
CACHE_WRITE = Usage(
    input_tokens=21,
    cache_write_tokens=4312,
    cache_write_5m_tokens=0,
    cache_write_1h_tokens=4312,
    cache_read_tokens=0,
    output_tokens=12,
)
CACHE_READ = Usage(
    input_tokens=25,
    cache_write_tokens=0,
    cache_write_5m_tokens=0,
    cache_write_1h_tokens=0,
    cache_read_tokens=4312,
    output_tokens=14,
)


def test_cache_write_turn_with_1h_write() -> None:
    cost = turn_cost(HAIKU, CACHE_WRITE)
    # 21 x $1 + 4312 x $2 (1h write) + 12 x $5, per million
    assert cost.usd == pytest.approx((21 + 8624 + 60) / 1e6)  # $0.008705
    # without caching: all 4333 prompt tokens at $1, plus the output
    assert cost.uncached_usd == pytest.approx((4333 + 60) / 1e6)  # $0.004393
    assert cost.saving_usd == pytest.approx(-4312 / 1e6)  # the write cost more than it saved


def test_cache_read_turn() -> None:
    cost = turn_cost(HAIKU, CACHE_READ)
    # 25 x $1 + 4312 x $0.10 + 14 x $5
    assert cost.usd == pytest.approx(526.2 / 1e6)
    assert cost.uncached_usd == pytest.approx((4337 + 70) / 1e6)
    assert cost.saving_usd == pytest.approx((4407 - 526.2) / 1e6)


def test_two_turns_add_up() -> None:
    total = turn_cost(HAIKU, CACHE_WRITE) + turn_cost(HAIKU, CACHE_READ)
    assert total.usd == pytest.approx((8705 + 526.2) / 1e6)
    assert total.saving_usd == pytest.approx((4393 + 4407 - 8705 - 526.2) / 1e6)


def test_unsplit_cache_write_is_priced_at_the_requested_ttl() -> None:
    usage = Usage(input_tokens=21, cache_write_tokens=4312, output_tokens=12)
    assert turn_cost(HAIKU, usage, ttl="5m").usd == pytest.approx((21 + 5390 + 60) / 1e6)
    assert turn_cost(HAIKU, usage, ttl="1h").usd == pytest.approx((21 + 8624 + 60) / 1e6)
    with pytest.raises(ValueError):
        turn_cost(HAIKU, usage, ttl="2h")


def test_partial_split_prices_the_remainder_at_ttl() -> None:
    usage = Usage(
        input_tokens=0, cache_write_tokens=3000, cache_write_5m_tokens=1000, output_tokens=0
    )
    # 1000 reported as 5m ($1.25), the other 2000 unsplit, priced as 1h ($2)
    assert turn_cost(HAIKU, usage, ttl="1h").usd == pytest.approx((1250 + 4000) / 1e6)


def test_openai_cached_tokens() -> None:
    # tests/fixtures/sse/openai_chat_include_usage.sse: 2006 prompt tokens, 1920 cached, 5 out
    info = lookup_model("openai", "gpt-4.1-mini-2025-04-14")
    usage = Usage(input_tokens=86, cache_read_tokens=1920, output_tokens=5)
    cost = turn_cost(info, usage)
    assert cost.usd == pytest.approx((86 * 0.4 + 1920 * 0.1 + 5 * 1.6) / 1e6)
    assert cost.uncached_usd == pytest.approx((2006 * 0.4 + 5 * 1.6) / 1e6)


def test_missing_cache_fields_count_as_zero() -> None:
    info = lookup_model("anthropic", "claude-sonnet-4-5")
    cost = turn_cost(info, Usage(input_tokens=1000, output_tokens=100))
    assert cost.usd == pytest.approx(4500 / 1e6)
    assert cost.saving_usd == 0.0


@pytest.mark.parametrize(
    "usage",
    [
        Usage(input_tokens=None, output_tokens=10),
        Usage(input_tokens=10, output_tokens=None),
        Usage(cache_read_tokens=100),
    ],
)
def test_unknown_token_counts_make_cost_unknown(usage: Usage) -> None:
    cost = turn_cost(HAIKU, usage)
    assert cost == UNKNOWN_COST and cost.saving_usd is None


def test_unknown_model_cost_is_unknown_not_zero() -> None:
    info = lookup_model("openai", "some-local-finetune")
    cost = turn_cost(info, Usage(input_tokens=100, output_tokens=100))
    assert cost.usd is None and cost.uncached_usd is None and cost.saving_usd is None
    assert format_usd(cost.usd) == "—"


def test_ollama_is_exactly_free() -> None:
    info = lookup_model("ollama", "llama3.2")
    cost = turn_cost(info, Usage(input_tokens=2051, output_tokens=4))
    assert cost == ZERO_COST
    assert cost.saving_usd == 0.0


def test_tokens_at_an_unknown_price_make_usd_unknown() -> None:
    info = lookup_model("openai", "gpt-4o-2024-05-13")  # no cached-input price
    cost = turn_cost(info, Usage(input_tokens=100, cache_read_tokens=1024, output_tokens=10))
    assert cost.usd is None
    assert cost.uncached_usd == pytest.approx((1124 * 5 + 10 * 15) / 1e6)
    # ...but with no cached tokens, the missing cache price does not matter.
    assert turn_cost(info, Usage(input_tokens=100, cache_read_tokens=0, output_tokens=10)).usd == (
        pytest.approx((500 + 150) / 1e6)
    )


def test_unknown_propagates_through_sums() -> None:
    known = Cost(0.5, 1.0)
    assert (known + UNKNOWN_COST) == UNKNOWN_COST
    assert (UNKNOWN_COST + known) == UNKNOWN_COST
    assert (known + Cost(None, 2.0)) == Cost(None, 3.0)
    assert sum([known, known, known], ZERO_COST) == Cost(1.5, 3.0)


def test_monthly_projection_216k() -> None:
    cost = monthly_projection(
        HAIKU, prompt_tokens=5000, cached_tokens=5000, output_tokens=0, requests_per_minute=1000
    )
    # 1,000 req/min x 43,200 min = 43.2M requests x 5,000 tokens x $1/M
    assert cost.uncached_usd == pytest.approx(216_000)
    # one 5m write ($1.25/M) then reads at $0.10/M
    expected = ((43_200_000 - 1) * 5000 * 0.10 + 5000 * 1.25) / 1e6
    assert cost.usd == pytest.approx(expected, rel=1e-12)
    assert cost.usd == pytest.approx(21_600, rel=1e-6)
    assert format_usd(cost.uncached_usd) == "$216,000.00"
    assert format_usd(cost.usd) == "$21,600.01"


def test_projection_with_uncached_rest_and_output() -> None:
    info = ModelInfo("m", 2.0, 10.0, 2.5, 4.0, 0.2, 1024, None)
    cost = monthly_projection(
        info,
        prompt_tokens=3000,
        cached_tokens=2000,
        output_tokens=100,
        requests_per_minute=1,
        days=1,
    )
    n = 1440
    assert cost.uncached_usd == pytest.approx(n * (3000 * 2 + 100 * 10) / 1e6)
    per_request_rest = 1000 * 2 + 100 * 10
    cached = 2000 * 2.5 + (n - 1) * 2000 * 0.2
    assert cost.usd == pytest.approx((cached + n * per_request_rest) / 1e6)


def test_projection_cache_expires_between_slow_requests() -> None:
    # One request every 10 minutes: a 5m cache is gone each time, so every request writes.
    slow = monthly_projection(
        HAIKU, prompt_tokens=5000, cached_tokens=5000, output_tokens=0, requests_per_minute=0.1
    )
    n = 0.1 * 43_200
    assert slow.uncached_usd == pytest.approx(n * 5000 / 1e6)
    assert slow.usd == pytest.approx(n * 5000 * 1.25 / 1e6)
    assert slow.saving_usd is not None and slow.saving_usd < 0
    # A 1h cache survives the 10-minute gaps: one 1h write, then reads.
    hourly = monthly_projection(
        HAIKU,
        prompt_tokens=5000,
        cached_tokens=5000,
        output_tokens=0,
        requests_per_minute=0.1,
        ttl="1h",
    )
    assert hourly.usd == pytest.approx((5000 * 2.0 + (n - 1) * 5000 * 0.10) / 1e6)


def test_projection_below_cache_minimum_saves_nothing() -> None:
    cost = monthly_projection(
        HAIKU, prompt_tokens=3000, cached_tokens=3000, output_tokens=0, requests_per_minute=10
    )
    assert cost.usd == cost.uncached_usd == pytest.approx(10 * 43_200 * 3000 / 1e6)


def test_projection_unknown_model_and_bad_input() -> None:
    assert (
        monthly_projection(
            None, prompt_tokens=1, cached_tokens=0, output_tokens=0, requests_per_minute=1
        )
        == UNKNOWN_COST
    )
    with pytest.raises(ValueError):
        monthly_projection(
            HAIKU, prompt_tokens=100, cached_tokens=200, output_tokens=0, requests_per_minute=1
        )
    with pytest.raises(ValueError):
        monthly_projection(
            HAIKU, prompt_tokens=100, cached_tokens=0, output_tokens=0, requests_per_minute=-1
        )


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (None, "—"),
        (0.0, "$0.00"),
        (0.0042, "$0.0042"),
        (0.008705, "$0.0087"),
        (0.000021, "$0.000021"),
        (0.5, "$0.50"),
        (0.12345, "$0.12"),
        (1.0, "$1.00"),
        (1234.5, "$1,234.50"),
        (216_000, "$216,000.00"),
        (-0.004312, "-$0.0043"),
        (float("nan"), "—"),
    ],
)
def test_format_usd(x: float | None, text: str) -> None:
    assert format_usd(x) == text
