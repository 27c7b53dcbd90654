"""Turn timing (time to first token, throughput) and the prompt-cache countdown.

Every clock is injectable (monotonic seconds), so tests drive time by hand.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from chat_tui.core.cache_doctor import Diagnosis, Fingerprint
from chat_tui.core.models import ModelInfo
from chat_tui.core.pricing import Cost, turn_cost
from chat_tui.providers.events import Usage

Clock = Callable[[], float]

# Throughput over a shorter window than this is noise, not a rate.
MIN_RATE_WINDOW_S = 0.2
# A cache is "expiring" in its last min(60 s, 20% of the TTL).
EXPIRING_MAX_S = 60.0
EXPIRING_FRACTION = 0.2


class TurnTimer:
    """Times one turn: ``start()``, ``on_text()`` for every answer chunk and ``on_thinking()``
    for every reasoning chunk, ``finish()``.

    The first token of any kind marks ``ttft_s``; the first answer token ``first_text_s``;
    ``thinking_s`` runs from the first to the last reasoning token. Calls before ``start()``
    (or after ``finish()``) are ignored; ``start()`` again resets the timer.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._start: float | None = None
        self._first: float | None = None
        self._end: float | None = None
        self._first_text: float | None = None
        self._thinking: tuple[float, float] | None = None  # first and last reasoning token

    def start(self) -> float:
        """Start timing; returns the start time (for :meth:`CacheClock.record`)."""
        self._start = self._clock()
        self._first = self._end = self._first_text = self._thinking = None
        return self._start

    def _running(self, text: str) -> bool:
        return bool(text) and self._start is not None and self._end is None

    def on_text(self, text: str) -> None:
        """Note a streamed answer chunk: the first non-empty one marks the first answer token."""
        if not self._running(text):
            return
        now = self._clock()
        if self._first is None:
            self._first = now
        if self._first_text is None:
            self._first_text = now

    def on_tool_call(self) -> None:
        """Note a tool call forming: output has arrived (the first token), not answer text."""
        if self._start is not None and self._end is None and self._first is None:
            self._first = self._clock()

    def on_thinking(self, text: str) -> None:
        """Note a streamed reasoning chunk."""
        if not self._running(text):
            return
        now = self._clock()
        if self._first is None:
            self._first = now
        self._thinking = (self._thinking[0] if self._thinking else now, now)

    @property
    def first_text_s(self) -> float | None:
        """Seconds from start to the first answer token, or None if none came."""
        if self._start is None or self._first_text is None:
            return None
        return self._first_text - self._start

    @property
    def thinking_s(self) -> float | None:
        """Seconds from the first to the last reasoning token, or None without reasoning."""
        if self._thinking is None:
            return None
        return self._thinking[1] - self._thinking[0]

    @property
    def thinking_started_at(self) -> float | None:
        return self._thinking[0] if self._thinking else None

    def finish(self) -> None:
        if self._start is not None and self._end is None:
            self._end = self._clock()

    @property
    def started_at(self) -> float | None:
        return self._start

    @property
    def ttft_s(self) -> float | None:
        """Seconds from start to the first non-empty text, or None if none came."""
        if self._start is None or self._first is None:
            return None
        return self._first - self._start

    @property
    def total_s(self) -> float | None:
        """Seconds from start to finish, or None until finished."""
        if self._start is None or self._end is None:
            return None
        return self._end - self._start

    @property
    def elapsed_s(self) -> float | None:
        """Seconds since start: live while running, fixed once finished."""
        if self._start is None:
            return None
        return (self._end if self._end is not None else self._clock()) - self._start

    def tokens_per_s(self, output_tokens: int | None) -> float | None:
        """Output tokens over the streaming time after the first token.

        None when the count is unknown or zero, no text came, the turn is not finished,
        or the window is shorter than ``MIN_RATE_WINDOW_S``.
        """
        if not output_tokens or output_tokens < 0 or self._first is None or self._end is None:
            return None
        window = self._end - self._first
        if window < MIN_RATE_WINDOW_S:
            return None
        return output_tokens / window


@dataclass(frozen=True)
class TurnMetrics:
    """Everything measured about one finished turn: a plain record for UI, storage and JSON."""

    provider: str
    model: str
    ttft_s: float | None
    total_s: float | None
    tokens_per_s: float | None
    usage: Usage
    cost: Cost
    diagnosis: Diagnosis | None = None  # the cache doctor's verdict, when a response came
    fingerprint: Fingerprint | None = None  # the request it judged (stored for the next one)
    # Thinking: time to the first answer token, time spent reasoning, the reasoning tokens
    # (reported, or estimated from the text: ``thinking_estimated``), and the stop reason.
    first_text_s: float | None = None
    thinking_s: float | None = None
    thinking_tokens: int | None = None
    thinking_estimated: bool = False
    stop_reason: str | None = None
    max_tokens: int | None = None  # the limit the turn ran with

    @classmethod
    def from_turn(
        cls,
        provider: str,
        model: str,
        timer: TurnTimer,
        usage: Usage,
        info: ModelInfo | None,
        ttl: str = "5m",
        *,
        thinking_estimate: int = 0,
        stop_reason: str | None = None,
        max_tokens: int | None = None,
    ) -> TurnMetrics:
        """``thinking_estimate``: reasoning tokens estimated from the text received, used
        (and marked estimated) when the provider reports no count of its own."""
        thinking, estimated = usage.thinking_tokens, False
        if thinking is None and thinking_estimate:
            thinking, estimated = thinking_estimate, True
        return cls(
            provider=provider,
            model=model,
            ttft_s=timer.ttft_s,
            total_s=timer.total_s,
            tokens_per_s=timer.tokens_per_s(usage.output_tokens),
            usage=usage,
            cost=turn_cost(info, usage, ttl),
            first_text_s=timer.first_text_s,
            thinking_s=timer.thinking_s,
            thinking_tokens=thinking,
            thinking_estimated=estimated,
            stop_reason=stop_reason,
            max_tokens=max_tokens,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers or None (never a missing key); the raw provider usage left out."""
        usage = {
            f.name: getattr(self.usage, f.name)
            for f in dataclasses.fields(self.usage)
            if f.name != "raw"
        }
        return {
            "provider": self.provider,
            "model": self.model,
            "ttft_s": self.ttft_s,
            "total_s": self.total_s,
            "tokens_per_s": self.tokens_per_s,
            "first_text_s": self.first_text_s,
            "thinking_s": self.thinking_s,
            "thinking_tokens": self.thinking_tokens,
            "thinking_estimated": self.thinking_estimated,
            "stop_reason": self.stop_reason,
            "usage": usage,
            "cost": {
                "usd": self.cost.usd,
                "uncached_usd": self.cost.uncached_usd,
                "saving_usd": self.cost.saving_usd,
            },
        }


class CacheKey(NamedTuple):
    """One provider-side cache: per provider endpoint, model and exact prompt prefix."""

    provider: str
    base_url: str | None
    model: str
    prefix_hash: str


CacheStatus = Literal["cold", "warm", "expiring", "expired"]


@dataclass(frozen=True)
class CacheState:
    """``seconds_left`` and ``ttl_s`` are None when cold; ``seconds_left`` is 0.0 when expired."""

    status: CacheStatus
    seconds_left: float | None
    ttl_s: float | None
    assumed: bool = False  # warm by assumption: the server caches without reporting writes


@dataclass(frozen=True)
class _Entry:
    started_at: float
    ttl_s: float
    assumed: bool = False


class CacheClock:
    """Tracks when each cached prefix expires. A write or a read restarts its TTL, counted
    from the start of the request that did it (the provider's clock starts then, not when
    the response ends)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[CacheKey, _Entry] = {}

    def record(
        self, key: CacheKey, ttl_s: float, started_at: float, *, assumed: bool = False
    ) -> None:
        """Note a cache write or read (``assumed``: a turn on a server that caches without
        reporting it). A record older than the one held is ignored (two overlapping requests
        can finish out of order)."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        held = self._entries.get(key)
        if held is None or started_at >= held.started_at:
            self._entries[key] = _Entry(started_at, ttl_s, assumed)

    def state(self, key: CacheKey) -> CacheState:
        entry = self._entries.get(key)
        if entry is None:
            return CacheState("cold", None, None)
        left = entry.started_at + entry.ttl_s - self._clock()
        if left <= 0:
            return CacheState("expired", 0.0, entry.ttl_s, entry.assumed)
        threshold = min(EXPIRING_MAX_S, EXPIRING_FRACTION * entry.ttl_s)
        status: CacheStatus = "expiring" if left <= threshold else "warm"
        return CacheState(status, left, entry.ttl_s, entry.assumed)

    def forget(self, key: CacheKey) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def format_countdown(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour), rounded up so it reads 00:00 only at expiry."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"
