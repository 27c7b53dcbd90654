"""Advice on what caching costs: which TTL this user's rhythm pays for, what a request could
cost before it is sent (for the spending cap), and the monthly bill at production traffic.

Pure arithmetic on the price table; no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from chat_tui.core.models import ModelInfo
from chat_tui.core.pricing import PER_MILLION, Cost, format_usd, monthly_projection
from chat_tui.providers.events import TTL_SECONDS

# Only advise when the other TTL saves at least this much: rounding noise is not advice.
MIN_SAVING_USD = 0.0001
BUDGET_WARN_FRACTION = 0.8


# -- TTL advisor -----------------------------------------------------------------------


@dataclass(frozen=True)
class TtlAdvice:
    better: str  # the TTL that would have been cheaper
    saving_usd: float
    turns: int

    def line(self) -> str:
        return (
            f"{self.better} TTL would have saved {format_usd(self.saving_usd)} over the last "
            f"{self.turns} turns"
        )


def prefix_cost(
    gaps: Sequence[float], prefix_tokens: int, info: ModelInfo, ttl: str
) -> float | None:
    """What keeping a ``prefix_tokens`` prefix cached cost over turns separated by ``gaps``
    (seconds) with ``ttl``: one write at the start, then a read after each gap within the TTL
    and a write again after each longer one. None when a price is unknown."""
    write, read = info.cache_write_price(ttl), info.cache_read
    if write is None or read is None:
        return None
    writes = 1 + sum(1 for g in gaps if g > TTL_SECONDS[ttl])
    reads = len(gaps) - (writes - 1)
    return prefix_tokens * (writes * write + reads * read) / PER_MILLION


def advise_ttl(
    send_times: Sequence[float], prefix_tokens: int, info: ModelInfo | None, current: str
) -> TtlAdvice | None:
    """Advice when the other TTL would have cost less over these turns (send times in
    seconds), else None. Needs two turns at least and a cacheable prefix."""
    if info is None or prefix_tokens <= 0 or len(send_times) < 2:
        return None
    if info.min_cache_tokens is not None and prefix_tokens < info.min_cache_tokens:
        return None
    times = sorted(send_times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    other = "1h" if current == "5m" else "5m"
    now_cost = prefix_cost(gaps, prefix_tokens, info, current)
    other_cost = prefix_cost(gaps, prefix_tokens, info, other)
    if now_cost is None or other_cost is None or now_cost - other_cost < MIN_SAVING_USD:
        return None
    return TtlAdvice(other, now_cost - other_cost, len(times))


# -- spending cap -----------------------------------------------------------------------


def estimate_request_usd(
    info: ModelInfo | None,
    *,
    prompt_tokens: int,
    read_tokens: int,
    write_tokens: int,
    max_tokens: int,
    ttl: str,
    automatic: bool,
) -> float | None:
    """The most a request can cost: ``read_tokens`` of the prompt at the read price (its
    expected cache class), ``write_tokens`` at the write price (the input price where the
    server caches automatically), the rest uncached, and ``max_tokens`` of output."""
    if info is None:
        return None
    read = min(read_tokens, prompt_tokens)
    write = min(write_tokens, prompt_tokens - read)
    rest = prompt_tokens - read - write
    read_price = info.cache_read if info.cache_read is not None else info.input
    write_price = info.input if automatic else info.cache_write_price(ttl)
    if write_price is None:
        write_price = info.input
    usd = read * read_price + write * write_price + rest * info.input + max_tokens * info.output
    return usd / PER_MILLION


@dataclass(frozen=True)
class BudgetCheck:
    allowed: bool
    message: str | None  # the one line to show when not allowed, or a warning
    warn: bool = False  # past BUDGET_WARN_FRACTION of the cap


def check_budget(
    budget_usd: float | None, spent_usd: float, estimate_usd: float | None, *, hint: str
) -> BudgetCheck:
    """Whether a request estimated at ``estimate_usd`` fits in what is left of the cap."""
    if budget_usd is None:
        return BudgetCheck(True, None)
    if estimate_usd is None:
        return BudgetCheck(True, "the model's price is unknown, so the budget cannot cap it")
    left = budget_usd - spent_usd
    if estimate_usd > left:
        return BudgetCheck(
            False,
            f"this turn could cost up to {format_usd(estimate_usd)} and the session budget "
            f"has {format_usd(max(left, 0.0))} left; raise it with {hint}",
        )
    return BudgetCheck(True, None, warn=spent_usd >= BUDGET_WARN_FRACTION * budget_usd)


def budget_line(budget_usd: float, spent_usd: float) -> str:
    pct = 100 * spent_usd / budget_usd if budget_usd > 0 else 100.0
    return f"{format_usd(spent_usd)} of {format_usd(budget_usd)} ({pct:.0f} %)"


# -- the production abacus --------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    model: str
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    rpm: float
    hours_per_day: float
    days: float
    ttl: str
    cost: Cost
    below_minimum: bool

    @property
    def requests(self) -> float:
        return self.rpm * 60 * self.hours_per_day * self.days

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "requests_per_minute": self.rpm,
            "hours_per_day": self.hours_per_day,
            "days": self.days,
            "ttl": self.ttl,
            "requests": self.requests,
            "uncached_usd": self.cost.uncached_usd,
            "cached_usd": self.cost.usd,
            "saving_usd": self.cost.saving_usd,
            "below_minimum": self.below_minimum,
        }

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for the table the CLI and the TUI show."""
        c = self.cost
        pct = ""
        if c.saving_usd is not None and c.uncached_usd:
            pct = f" ({100 * c.saving_usd / c.uncached_usd:.0f} %)"
        return [
            ("model", self.model),
            ("prompt", f"{self.prompt_tokens:,} tokens, {self.cached_tokens:,} cacheable"),
            ("output", f"{self.output_tokens:,} tokens a request"),
            ("traffic", f"{self.rpm:,g} req/min, {self.hours_per_day:g} h/day, "
                        f"{self.days:g} days = {self.requests:,.0f} requests"),
            ("uncached", f"{format_usd(c.uncached_usd)} a month"),
            (f"cached ({self.ttl})", f"{format_usd(c.usd)} a month"),
            ("saving", f"{format_usd(c.saving_usd)}{pct}"),
            *([("note", note)] if (note := self.note()) else []),
        ]  # fmt: skip

    def note(self) -> str | None:
        """Why caching does not pay at this rate, and what would, when that is the case."""
        if self.rpm <= 0 or 60 / self.rpm <= TTL_SECONDS[self.ttl]:
            return None
        text = f"at this rate the {self.ttl} cache expires between requests: each one writes it"
        if self.ttl == "5m" and 60 / self.rpm <= TTL_SECONDS["1h"]:
            text += "; a 1h TTL would keep it (--ttl 1h)"
        return text


def project(
    info: ModelInfo | None,
    *,
    model: str,
    prompt_tokens: int,
    cached_tokens: int | None = None,
    output_tokens: int = 0,
    rpm: float = 1000,
    hours_per_day: float = 24,
    days: float = 30,
    ttl: str = "5m",
) -> Projection:
    """The month at ``rpm`` requests a minute: uncached, and with caching (reads, plus the
    re-writes the TTL forces at that rate). Raises ValueError for impossible inputs."""
    cached = prompt_tokens if cached_tokens is None else cached_tokens
    cost = monthly_projection(
        info, prompt_tokens=prompt_tokens, cached_tokens=cached, output_tokens=output_tokens,
        requests_per_minute=rpm, ttl=ttl, days=days, hours_per_day=hours_per_day,
    )  # fmt: skip
    below = bool(info and info.min_cache_tokens and cached < info.min_cache_tokens)
    return Projection(
        model, prompt_tokens, cached, output_tokens, rpm, hours_per_day, days, ttl, cost, below
    )
