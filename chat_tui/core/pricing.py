"""What a turn cost, what it would have cost without caching, and monthly projections.

Unknown stays unknown: a cost is ``None`` when the model's prices or the token counts are
not known, and ``None`` propagates through sums. Never shown as $0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chat_tui.core.models import ModelInfo
from chat_tui.providers.events import TTL_SECONDS, Usage

PER_MILLION = 1_000_000
# Batch APIs (Anthropic Message Batches, OpenAI Batch) bill every token class at half price.
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Cost:
    """``usd``: what was (or would be) paid; ``uncached_usd``: the same tokens without caching."""

    usd: float | None
    uncached_usd: float | None

    @property
    def saving_usd(self) -> float | None:
        """What caching saved (negative when a cache write cost more than it saved)."""
        if self.usd is None or self.uncached_usd is None:
            return None
        return self.uncached_usd - self.usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(_add(self.usd, other.usd), _add(self.uncached_usd, other.uncached_usd))


ZERO_COST = Cost(0.0, 0.0)
UNKNOWN_COST = Cost(None, None)


def turn_cost(
    info: ModelInfo | None, usage: Usage, ttl: str = "5m", *, discount: float = 0.0
) -> Cost:
    """Price one turn. ``discount`` is the fraction off every token class (``BATCH_DISCOUNT``
    for a batch request); the uncached figure gets the same discount, so the saving compares
    like with like.

    Cache counts that are ``None`` count as 0: providers omit them when there was no caching
    (Ollama never reports them), and the prompt is then priced as uncached, the most likely
    reading. Unknown ``input_tokens`` or ``output_tokens`` make the whole cost unknown. When
    the 5m/1h split of cache writes is not reported, the unsplit part is priced at ``ttl``.
    """
    _check_ttl(ttl)
    if not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must be between 0 and 1, got {discount!r}")
    if info is None or usage.input_tokens is None or usage.output_tokens is None:
        return UNKNOWN_COST
    uncached_in, out = usage.input_tokens, usage.output_tokens
    read = usage.cache_read_tokens or 0
    w5, w1 = _write_split(usage, ttl)
    usd = _priced(
        (uncached_in, info.input),
        (w5, info.cache_write_5m),
        (w1, info.cache_write_1h),
        (read, info.cache_read),
        (out, info.output),
    )
    uncached = _priced((uncached_in + w5 + w1 + read, info.input), (out, info.output))
    if discount:
        usd, uncached = _scaled(usd, 1 - discount), _scaled(uncached, 1 - discount)
    return Cost(usd, uncached)


def batch_cost(info: ModelInfo | None, usage: Usage, ttl: str = "5m") -> Cost:
    """Price one request of a batch: :func:`turn_cost` with :data:`BATCH_DISCOUNT` off every
    token class (both the cost and its uncached figure). Unknown stays unknown."""
    return turn_cost(info, usage, ttl, discount=BATCH_DISCOUNT)


def monthly_projection(
    info: ModelInfo | None,
    *,
    prompt_tokens: int,
    cached_tokens: int,
    output_tokens: int,
    requests_per_minute: float,
    ttl: str = "5m",
    days: float = 30,
    hours_per_day: float = 24,
) -> Cost:
    """Cost of ``days`` of steady traffic, ``hours_per_day`` a day, with caching (``usd``)
    and without (``uncached_usd``).

    With caching, ``cached_tokens`` of each prompt are read from the cache. If requests come
    at least once per TTL window the cache never expires while traffic runs: one write at the
    start (one a day when traffic stops for part of the day, longer than any TTL), then
    reads. If they come less often, every request writes the cache again. A cached prefix
    shorter than the model's minimum is never cached, so both figures are equal.
    """
    _check_ttl(ttl)
    if not 0 <= cached_tokens <= prompt_tokens or output_tokens < 0:
        raise ValueError("need 0 <= cached_tokens <= prompt_tokens and output_tokens >= 0")
    if requests_per_minute < 0 or days < 0:
        raise ValueError("requests_per_minute and days must not be negative")
    if not 0 < hours_per_day <= 24:
        raise ValueError("hours_per_day must be more than 0 and at most 24")
    if info is None:
        return UNKNOWN_COST
    requests = requests_per_minute * 60 * hours_per_day * days
    without = requests * (prompt_tokens * info.input + output_tokens * info.output) / PER_MILLION
    too_short = info.min_cache_tokens is not None and cached_tokens < info.min_cache_tokens
    if requests == 0 or cached_tokens == 0 or too_short:
        return Cost(without, without)
    # At least one request per TTL window keeps the cache alive: one write, then reads.
    expires_between = 60 / requests_per_minute > TTL_SECONDS[ttl]
    starts = 1.0 if hours_per_day >= 24 else max(1.0, math.ceil(days))
    writes = requests if expires_between else min(starts, requests)
    per_request_rest = (prompt_tokens - cached_tokens) * info.input + output_tokens * info.output
    cached = _priced(
        (writes * cached_tokens, info.cache_write_price(ttl)),
        ((requests - writes) * cached_tokens, info.cache_read),
    )
    with_cache = None if cached is None else cached + requests * per_request_rest / PER_MILLION
    return Cost(with_cache, without)


def format_usd(x: float | None) -> str:
    """``$216,000.00`` for $1 and up; two significant digits below (``$0.0042``); ``—`` unknown."""
    if x is None or not math.isfinite(x):
        return "—"
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 1 or a == 0:
        return f"{sign}${a:,.2f}"
    decimals = min(max(2, 1 - math.floor(math.log10(a))), 10)
    return f"{sign}${a:.{decimals}f}"


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _scaled(x: float | None, factor: float) -> float | None:
    return None if x is None else x * factor


def _priced(*items: tuple[float, float | None]) -> float | None:
    """Sum of tokens x price per million; None if tokens were used at an unknown price."""
    total = 0.0
    for tokens, price in items:
        if tokens:
            if price is None:
                return None
            total += tokens * price
    return total / PER_MILLION


def _write_split(usage: Usage, ttl: str) -> tuple[int, int]:
    w5 = usage.cache_write_5m_tokens or 0
    w1 = usage.cache_write_1h_tokens or 0
    total = usage.cache_write_tokens
    rest = 0 if total is None else max(0, total - w5 - w1)
    return (w5, w1 + rest) if ttl == "1h" else (w5 + rest, w1)


def _check_ttl(ttl: str) -> None:
    if ttl not in TTL_SECONDS:
        raise ValueError(f"unknown cache TTL {ttl!r}: use '5m' or '1h'")
