"""The metrics panel's tool lines (pure: data in, Content out): the MCP servers' status (a
server that is not running is one warning line) and, for a turn with tool rounds, the turn's
total and each round's cache read and write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content

from chat_tui.core.metrics import TurnMetrics
from chat_tui.core.pricing import format_usd


@dataclass(frozen=True)
class PanelTools:
    enabled: bool
    servers: tuple[tuple[str, bool], ...] = ()  # (status line, failed)
    count: int = 0  # tools offered
    tokens: int = 0  # their schemas' estimated prompt tokens


def tools_section(tools: PanelTools | None) -> Content:
    if tools is None or (not tools.servers and tools.enabled):
        return Content.styled("no MCP servers configured", "$foreground-muted")
    if not tools.enabled:
        return Content.styled("off for this session (ctrl+p → Tools: turn on)", "$foreground-muted")
    rows = [
        Content.styled(f"⚠ {line}", "$warning") if failed else Content(line)
        for line, failed in tools.servers
    ]
    if tools.count:
        rows.append(Content.styled(f"{tools.count} tools · ~{tools.tokens:,} tokens a request",
                                   "$foreground-muted"))  # fmt: skip
    return Content("\n").join(rows)


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def rounds_section(rounds: Sequence[TurnMetrics]) -> Content:
    """Nothing for a one-request turn; else the turn's total, then a line per round."""
    if len(rounds) < 2:
        return Content("")
    costs = [r.cost.usd for r in rounds]
    total = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    out = sum(r.usage.output_tokens or 0 for r in rounds)
    rows = [Content.assemble((f"turn: {len(rounds)} requests · ", "$foreground-muted"),
                             (format_usd(total), "$cost"), f" · out {out:,}")]  # fmt: skip
    for i, r in enumerate(rounds, 1):
        u = r.usage
        rows.append(Content.assemble(
            (f" {i}. ", "$foreground-muted"), ("read ", "$foreground-muted"),
            (_n(u.cache_read_tokens), "$cache-read"), (" · write ", "$foreground-muted"),
            _n(u.cache_write_tokens), (" · in ", "$foreground-muted"), _n(u.input_tokens),
        ))  # fmt: skip
    return Content("\n").join(rows)
