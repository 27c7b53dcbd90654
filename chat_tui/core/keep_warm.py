"""Keep-warm: while the app is idle with a warm cache, re-read the cached prefix shortly
before its TTL runs out, so the next question reads it instead of writing it again.

Opt-in (``keep_warm``). A ping is the last request again with ``max_tokens`` 1: the same
prefix, so it reads exactly what is cached and writes nothing. Pings stop after
``max_pings`` per idle stretch (a real turn starts a new stretch), when the spending cap
would be passed, after one failure, or when the app quits. This module holds the policy and
the running figures; :class:`~chat_tui.core.session.ChatSession` sends the pings.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_tui.core.metrics import CacheState
from chat_tui.core.pricing import format_usd


@dataclass
class KeepWarm:
    enabled: bool = False
    max_pings: int = 6
    lead_s: float = 30.0
    # Running figures for the session.
    pings: int = 0
    cost_usd: float = 0.0  # what the pings cost
    rewrite_usd: float = 0.0  # what writing the prefix again would have cost instead
    # This idle stretch.
    stretch_pings: int = 0
    stopped: str | None = None  # why pinging stopped for this stretch
    last_line: str | None = None  # the last ping, or its failure, in one line

    def new_stretch(self) -> None:
        """A real turn ran: the idle stretch after it gets its own pings."""
        self.stretch_pings = 0
        self.stopped = None

    def due(self, state: CacheState, *, busy: bool) -> bool:
        """True when a ping should go out now."""
        if not self.enabled or busy or self.stopped is not None:
            return False
        if state.status not in ("warm", "expiring") or state.seconds_left is None:
            return False
        if self.stretch_pings >= self.max_pings:
            self.stopped = f"stopped after {self.max_pings} pings; the next turn restarts them"
            return False
        return state.seconds_left <= self.lead_s

    def record(self, cost_usd: float | None, rewrite_usd: float | None) -> None:
        self.pings += 1
        self.stretch_pings += 1
        self.cost_usd += cost_usd or 0.0
        self.rewrite_usd += rewrite_usd or 0.0
        self.last_line = (
            f"ping {self.stretch_pings}/{self.max_pings}: {format_usd(cost_usd)} "
            f"(re-writing: {format_usd(rewrite_usd)})"
        )

    def fail(self, reason: str) -> None:
        """One failed ping ends pinging for this stretch: no retry storm."""
        self.stopped = f"ping failed: {reason}"
        self.last_line = self.stopped

    def summary(self) -> str:
        """The panel's line: the running totals of both figures."""
        if not self.pings:
            return "on; no ping yet" if self.enabled else "off"
        return (
            f"{self.pings} pings {format_usd(self.cost_usd)} vs re-writes "
            f"{format_usd(self.rewrite_usd)}"
        )
