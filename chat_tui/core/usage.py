"""Usage history: the stored requests grouped by day, model, provider or conversation.

Pure: rows come from :meth:`Store.usage_rows`, figures go to the CLI table, JSON, CSV and
the TUI's usage screen. Costs are recomputed from the stored token counts and today's price
table (a price change re-prices history); ``as_billed`` uses the figures stored when each
request ran. A request whose price is unknown is counted in ``unpriced``, never summed as 0.

Hit rate = cache read ÷ (uncached input + cache write + cache read), over the group's
requests that reported their prompt. A request is *warm* when it read from the cache: the
median first-token latency is given apart for warm and cold requests.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from chat_tui.core.models import lookup_model
from chat_tui.core.pricing import BATCH_DISCOUNT, Cost, turn_cost
from chat_tui.core.storage import TurnRecord, UsageRow
from chat_tui.providers.events import Usage

GroupBy = Literal["day", "model", "provider", "conversation"]
GROUP_BYS: tuple[GroupBy, ...] = ("day", "model", "provider", "conversation")
# Kinds in display order: chat turns first, then requests that are not turns.
KINDS: tuple[str, ...] = ("chat", "keep_warm", "prewarm", "batch")
DISCOUNTS: dict[str, float] = {"batch": BATCH_DISCOUNT}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SinceError(ValueError):
    pass


def parse_since(text: str, *, now: float | None = None, tz: tzinfo | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` (that long ago), ``today``, or a date ``2026-11-01``
    (its midnight, local time unless ``tz``) → a wall-clock timestamp. Raises SinceError."""
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        day = (
            datetime.fromtimestamp(now, tz).date()
            if text.strip() == "today"
            else date.fromisoformat(text.strip())
        )
    except ValueError:
        raise SinceError(
            f"--since {text!r} is neither a duration such as 7d, 12h, 2w nor a date such as "
            "2026-11-01"
        ) from None
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    return midnight.timestamp() if tz is not None else midnight.astimezone().timestamp()


@dataclass
class Group:
    """Totals of one group (or of everything). Token sums count only reported figures."""

    key: str
    kind: str
    requests: int = 0
    input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_write_unsplit_tokens: int = 0  # writes the provider did not split by TTL
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    uncached_cost_usd: float = 0.0
    unpriced: int = 0  # requests whose cost is unknown: not in the cost figures
    ttft_warm: list[float] = field(default_factory=list)
    ttft_cold: list[float] = field(default_factory=list)

    @property
    def cache_write_tokens(self) -> int:
        return (
            self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_write_unsplit_tokens
        )

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def hit_rate(self) -> float | None:
        """Cache read ÷ the whole prompt; None when no prompt was reported."""
        prompt = self.prompt_tokens
        return self.cache_read_tokens / prompt if prompt else None

    @property
    def saving_usd(self) -> float:
        return self.uncached_cost_usd - self.cost_usd

    @property
    def priced(self) -> int:
        return self.requests - self.unpriced

    @property
    def ttft_warm_s(self) -> float | None:
        return statistics.median(self.ttft_warm) if self.ttft_warm else None

    @property
    def ttft_cold_s(self) -> float | None:
        return statistics.median(self.ttft_cold) if self.ttft_cold else None

    def add(self, record: TurnRecord, cost: Cost) -> None:
        self.requests += 1
        self.input_tokens += record.input_tokens or 0
        w5, w1 = record.cache_write_5m_tokens or 0, record.cache_write_1h_tokens or 0
        self.cache_write_5m_tokens += w5
        self.cache_write_1h_tokens += w1
        self.cache_write_unsplit_tokens += max(0, (record.cache_write_tokens or 0) - w5 - w1)
        self.cache_read_tokens += record.cache_read_tokens or 0
        self.output_tokens += record.output_tokens or 0
        if cost.usd is None or cost.uncached_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += cost.usd
            self.uncached_cost_usd += cost.uncached_usd
        if record.ttft_s is not None:
            warm = (record.cache_read_tokens or 0) > 0
            (self.ttft_warm if warm else self.ttft_cold).append(record.ttft_s)

    def merge(self, other: Group) -> None:
        for name in (
            "requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
            "cache_write_unsplit_tokens", "cache_read_tokens", "output_tokens", "cost_usd",
            "uncached_cost_usd", "unpriced",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ttft_warm += other.ttft_warm
        self.ttft_cold += other.ttft_cold

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; a figure that cannot be known is None."""
        return {
            "group": self.key,
            "kind": self.kind,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_write_unsplit_tokens": self.cache_write_unsplit_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "output_tokens": self.output_tokens,
            "hit_rate": _round(self.hit_rate, 4),
            "ttft_warm_ms_median": _ms(self.ttft_warm_s),
            "ttft_cold_ms_median": _ms(self.ttft_cold_s),
            "cost_usd": _round(self.cost_usd if self.priced else None, 6),
            "uncached_cost_usd": _round(self.uncached_cost_usd if self.priced else None, 6),
            "saving_usd": _round(self.saving_usd if self.priced else None, 6),
            "unpriced_requests": self.unpriced,
        }


@dataclass
class Report:
    by: GroupBy
    since: float | None
    as_billed: bool
    groups: list[Group]
    total: Group
    # (provider, model) pairs with no known price, and how many requests each
    unpriced_models: dict[tuple[str, str], int] = field(default_factory=dict)

    def days(self) -> list[Group]:
        """One group per day, every kind merged (for the daily sparklines)."""
        merged: dict[str, Group] = {}
        for group in self.groups:
            merged.setdefault(group.key, Group(group.key, "all")).merge(group)
        return [merged[k] for k in sorted(merged)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since,
            "as_billed": self.as_billed,
            "groups": [g.as_dict() for g in self.groups],
            "total": self.total.as_dict(),
            "unpriced_models": [
                {"provider": p, "model": m, "requests": n}
                for (p, m), n in sorted(self.unpriced_models.items())
            ],
        }

    def unpriced_note(self) -> str | None:
        """One line saying which requests have no price, or None when every one has."""
        if not self.total.unpriced:
            return None
        n = self.total.unpriced
        models = ", ".join(f"{p}/{m} ({k})" for (p, m), k in sorted(self.unpriced_models.items()))
        where = "stored cost" if self.as_billed else "price"
        return (
            f"{n} request{'s' if n != 1 else ''} with no known {where}, left out of the costs: "
            f"{models}. Add prices under [models] in the config file."
        )


def request_cost(
    row: UsageRow, overrides: Mapping[str, Mapping[str, Any]] | None, *, as_billed: bool
) -> Cost:
    """The row's cost: as stored (``as_billed``) or recomputed with today's prices."""
    r = row.record
    if as_billed:
        return Cost(r.cost_usd, r.uncached_cost_usd)
    usage = Usage(
        input_tokens=r.input_tokens,
        cache_write_tokens=r.cache_write_tokens,
        cache_write_5m_tokens=r.cache_write_5m_tokens,
        cache_write_1h_tokens=r.cache_write_1h_tokens,
        cache_read_tokens=r.cache_read_tokens,
        output_tokens=r.output_tokens,
    )
    info = lookup_model(r.provider, r.model, overrides)
    return turn_cost(info, usage, discount=DISCOUNTS.get(row.kind, 0.0))


def build_report(
    rows: Iterable[UsageRow],
    by: GroupBy = "day",
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    as_billed: bool = False,
    since: float | None = None,
    tz: tzinfo | None = None,
) -> Report:
    """Group the rows by ``by`` and kind. Days are local dates unless ``tz`` is given."""
    if by not in GROUP_BYS:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUP_BYS)}")
    key_of = _key_function(by, tz)
    groups: dict[tuple[str, str], Group] = {}
    total = Group("total", "all")
    unpriced: dict[tuple[str, str], int] = {}
    for row in rows:
        cost = request_cost(row, overrides, as_billed=as_billed)
        key = (key_of(row), row.kind)
        group = groups.setdefault(key, Group(*key))
        group.add(row.record, cost)
        total.add(row.record, cost)
        if cost.usd is None or cost.uncached_usd is None:
            name = (row.record.provider, row.record.model)
            unpriced[name] = unpriced.get(name, 0) + 1
    ordered = sorted(groups.values(), key=lambda g: (g.key, _kind_order(g.kind)))
    return Report(by, since, as_billed, ordered, total, unpriced)


def _key_function(by: GroupBy, tz: tzinfo | None) -> Callable[[UsageRow], str]:
    if by == "day":
        return lambda row: datetime.fromtimestamp(row.at, tz).date().isoformat()
    if by == "model":
        return lambda row: f"{row.record.provider}/{row.record.model}"
    if by == "provider":
        return lambda row: row.record.provider
    return _conversation_key


def _conversation_key(row: UsageRow) -> str:
    if row.conversation_id is None:
        return "(no conversation)"
    title = row.conversation_title or "(deleted)"
    return f"#{row.conversation_id} {title}"


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


LEVELS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled to the largest: ``▁`` is nothing, ``█`` the top; a
    value that is not known is a blank."""
    top = max((v for v in values if v is not None), default=0.0)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif v <= 0 or top <= 0:
            out.append(LEVELS[0])
        else:
            out.append(LEVELS[max(1, round(v / top * (len(LEVELS) - 1)))])
    return "".join(out)


def bar(value: float | None, top: float, width: int = 10) -> str:
    """A horizontal bar of ``width`` cells, in eighths, for ``value`` out of ``top``."""
    if value is None or top <= 0:
        return ""
    eighths = round(max(0.0, min(1.0, value / top)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")).ljust(width)


def since_label(since: float | None, now: float | None = None) -> str:
    if since is None:
        return "all time"
    now = time.time() if now is None else now
    days = (now - since) / 86400
    if days >= 1 and abs(days - round(days)) < 1e-6:
        return f"the last {round(days)} days" if round(days) != 1 else "the last day"
    return "since " + datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M")


def window_start(days: int, now: float | None = None) -> float:
    """The timestamp ``days`` days before ``now``."""
    now = time.time() if now is None else now
    return now - timedelta(days=days).total_seconds()
