"""The metrics panel's lines (pure: :class:`PanelData` in, :class:`~textual.content.Content`
out): the formatters, each section's lines and :func:`panel_parts`, which names every part the
panel shows (a part left out is hidden).

Everything is built from parts, never from markup, so a model or document name such as
``[red]x.md`` shows literally. Colours are theme variables (``$cache-read``, ``$ttl-warm`` ...),
resolved when drawn, so theme switches apply. ``$text-muted`` is the exception: its value
(``auto 60%``: a share of the colour that contrasts with the background) loses its share when
a Content style names the variable, so the cache lines take the value itself (``muted``).
Figures a provider did not report show as "—", never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from textual.content import Content

from chat_tui.core.metrics import CacheState, TurnMetrics, format_countdown
from chat_tui.core.pricing import UNKNOWN_COST, Cost, format_usd
from chat_tui.ui.widgets.tools_panel import PanelTools, rounds_section, tools_section

DASH = "—"
LABEL_W = 14
NUMBER_W = 8
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
BAR_CHAR = "█"
# Prompt split, in bar order: (label, CSS variable).
PROMPT_PARTS = (("uncached", "$uncached"), ("cache write", "$cache-write"),
                ("cache read", "$cache-read"))  # fmt: skip
CACHE_WORDS = {
    "warm": "● warm {}",
    "expiring": "◐ expiring {}",
    "expired": "✕ expired — next turn writes again",
    "cold": "○ cold — next turn writes the cache",
}
CACHE_STATUSES = (*CACHE_WORDS, "unknown")  # "unknown": the provider does not report caching
HEADING_STYLE = "bold $text-primary"
# The cache status line by status; cold and unknown (italic) take the muted colour.
CACHE_STYLES = {"warm": "bold $ttl-warm", "expiring": "bold $ttl-expiring",
                "expired": "bold $ttl-expired"}  # fmt: skip
# The panel's sections in order: (heading, the parts under it). A part missing from
# panel_parts() is hidden, and so is a section with no part shown (Tools without MCP servers).
SECTIONS = (
    ("Provider", ("provider",)),
    ("Document", ("document",)),
    ("Tools", ("tools",)),
    ("Last turn", ("turn", "prompt-bar", "prompt-split", "rounds")),
    ("Cache", ("cache-state", "cache-ttl", "cache-doctor")),
    ("Cost", ("cost",)),
    ("First-token latency", ("latency-sparkline", "latency-caption")),
)
HEADINGS = {title: Content.styled(title, HEADING_STYLE) for title, _ in SECTIONS}
BLANK = Content("")
# A part: its lines, or a one-line chart drawn at the width it is given.
Part = Content | Callable[[int], Content]
T = TypeVar("T")


@dataclass(frozen=True)
class PanelDocument:
    name: str
    size_bytes: int
    tokens: int
    counted: bool  # False: ``tokens`` is an estimate, shown with "~"
    warnings: tuple[str, ...]
    pages: int | None = None  # a PDF's page count
    files: int | None = None  # a folder: how many files it gave


@dataclass(frozen=True)
class PanelData:
    provider_label: str  # "Anthropic", "OpenAI", "Ollama"
    model: str
    host: str  # base URL host, e.g. "api.anthropic.com" or "127.0.0.1:8765"
    document: PanelDocument | None
    last: TurnMetrics | None  # the last turn's metrics
    session_cost: Cost  # summed over the session
    ttft_history: tuple[float | None, ...]  # first-token latency per turn, seconds
    cache_reported: bool  # False for Ollama: cache figures are unknown
    ttl_label: str  # what the requests ask for: "5m", "1h", "24h retention", "automatic caching"
    advice: str | None = None  # the TTL advisor's line, when the other TTL would save money
    keep_warm: str | None = None  # keep-warm's running totals; None when off and never used
    keep_warm_last: str | None = None  # the last ping (or its failure) in one line
    budget: tuple[str, bool] | None = None  # (spent of cap, past 80 %); None without a cap
    tools: PanelTools | None = None  # the MCP servers and tools; None: none configured
    rounds: tuple[TurnMetrics, ...] = ()  # every request of the last turn (tool rounds)
    # Every document (a folder as one entry) when there are several; ``document`` is the last.
    documents: tuple[PanelDocument, ...] = ()


# -- formatting (pure) ------------------------------------------------------------------------


def format_tokens(n: int | None, estimated: bool = False) -> str:
    if n is None:
        return DASH
    return f"~{n:,}" if estimated else f"{n:,}"


def format_ms(seconds: float | None) -> str:
    """``412 ms``; ``12.3 s`` from ten seconds."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def format_duration(seconds: float | None) -> str:
    """``2.31 s``; ``1m 05s`` from a minute."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s"


def format_rate(tokens_per_s: float | None) -> str:
    if tokens_per_s is None or not math.isfinite(tokens_per_s):
        return DASH
    return f"{tokens_per_s:,.1f} tok/s"


def format_size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} B"
    kb = size_bytes / 1024
    return f"{kb:.1f} KB" if kb < 1024 else f"{kb / 1024:.1f} MB"


def format_percent(part: float | None, whole: float | None) -> str:
    """``87 %``; ``<1 %`` / ``>99 %`` rather than a rounded 0 or 100 that is not exact."""
    if part is None or whole is None or whole <= 0:
        return ""
    pct = 100 * part / whole
    if 0 < pct < 1:
        return "<1 %"
    if 99 < pct < 100:
        return ">99 %"
    return f"{pct:.0f} %"


def bar_cells(parts: Sequence[int], width: int) -> list[int]:
    """Split ``width`` cells in proportion to ``parts`` (largest remainder), giving each
    non-zero part at least one cell while there is room. All zero: no cells."""
    total = sum(parts)
    if width <= 0 or total <= 0:
        return [0] * len(parts)
    exact = [width * p / total for p in parts]
    cells = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: exact[i] - cells[i], reverse=True)
    for i in by_remainder[: width - sum(cells)]:
        cells[i] += 1
    for i, p in enumerate(parts):
        if p > 0 and cells[i] == 0:
            donor = max(range(len(parts)), key=lambda j: cells[j])
            if cells[donor] > 1:
                cells[donor] -= 1
                cells[i] = 1
    return cells


def sparkline(values: Sequence[float | None], width: int) -> str:
    """One block per turn (the last ``width`` turns), scaled from 0 to the largest value so
    a cold turn stands tall over cached ones; ``·`` for a turn with no first token."""
    shown = [v if v is not None and math.isfinite(v) else None for v in values]
    shown = shown[-width:] if width > 0 else []
    top = max((v for v in shown if v is not None), default=0.0)
    chars = []
    for v in shown:
        level = math.ceil(v / top * len(SPARK_LEVELS)) - 1 if v is not None and top > 0 else 0
        chars.append("·" if v is None else SPARK_LEVELS[min(max(level, 0), len(SPARK_LEVELS) - 1)])
    return "".join(chars)


def cache_line(state: CacheState, muted: str) -> Content:
    """The one-line cache status, in its status's colour (``muted``: the style of
    ``$text-muted``, see the module's docstring)."""
    line = CACHE_WORDS[state.status].format(format_countdown(state.seconds_left))
    if state.assumed and state.status in ("warm", "expiring"):
        line += " (assumed)"
    return cache_status_line(line, state.status, muted)


def cache_status_line(line: str, status: str, muted: str) -> Content:
    if status == "unknown":
        return Content.styled(line, f"italic {muted}")
    return Content.styled(line, CACHE_STYLES.get(status, muted))


ASSUMED_NOTE = "assumed: the server caches automatically and does not report writes"
DIAGNOSIS_STYLES = {"hit": "$cache-read", "partial": "$warning", "write": "$warning",
                    "none": "$foreground-muted", "unknown": "$foreground-muted"}  # fmt: skip


def doctor_section(data: PanelData | None) -> Content:
    """Why the last turn did or did not read the cache; keep-warm and the TTL advisor."""
    rows: list[Content] = []
    last = data.last if data else None
    diagnosis = last.diagnosis if last is not None else None
    if diagnosis is not None and diagnosis.status != "unknown":
        rows.append(Content.styled(diagnosis.line(), DIAGNOSIS_STYLES[diagnosis.status]))
    if data is not None and data.advice:
        rows.append(Content.styled(f"advice: {data.advice}", "$accent"))
    if data is not None and data.keep_warm is not None:
        rows.append(_row("keep-warm", data.keep_warm))
        if data.keep_warm_last:
            rows.append(Content.styled(data.keep_warm_last, "$foreground-muted"))
    return _lines(rows)


# -- section builders (pure: data in, Content out) ----------------------------------------


def _row(label: str, value: str | Content, style: str = "") -> Content:
    value_part = (value, style) if style and isinstance(value, str) else value
    return Content.assemble((label.ljust(LABEL_W), "$foreground-muted"), value_part)


def _lines(rows: Sequence[Content]) -> Content:
    return Content("\n").join(rows)


def provider_section(data: PanelData | None) -> Content:
    if data is None:
        return Content.styled("no provider yet", "$foreground-muted")
    return _lines([_row("provider", data.provider_label), _row("model", data.model),
                   _row("host", data.host or DASH)])  # fmt: skip


def document_section(doc: PanelDocument | None, documents: Sequence[PanelDocument] = ()) -> Content:
    """One document: its name, size, pages and tokens. Several: a list (name, then pages or
    files and tokens), and the total."""
    if len(documents) > 1:
        return _document_list(documents)
    if doc is None:
        return Content.styled("none — ctrl+o to load", "$foreground-muted")
    rows = [_row("name", doc.name), _row("size", format_size(doc.size_bytes))]
    if doc.pages is not None:
        rows.append(_row("pages", f"{doc.pages:,}"))
    if doc.files is not None:
        rows.append(_row("files", f"{doc.files:,}"))
    rows.append(_row("tokens", format_tokens(doc.tokens, estimated=not doc.counted)))
    rows += [Content.styled(f"⚠ {w}", "$warning") for w in doc.warnings]
    return _lines(rows)


def _document_list(documents: Sequence[PanelDocument]) -> Content:
    rows: list[Content] = []
    for d in documents:
        what = (f"{d.pages:,} p" if d.pages is not None
                else f"{d.files:,} file{'s' if d.files != 1 else ''}" if d.files is not None
                else "")  # fmt: skip
        tokens = format_tokens(d.tokens, estimated=not d.counted)
        rows.append(Content(d.name))
        rows.append(_row(f"  {what}", f"{tokens} tok"))
    total = sum(d.tokens for d in documents)
    tilde = not all(d.counted for d in documents)
    rows.append(_row("total", f"{format_tokens(total, estimated=tilde)} tok"))
    for d in documents:
        rows += [Content.styled(f"⚠ {w}", "$warning") for w in d.warnings]
    return _lines(rows)


def prompt_parts(last: TurnMetrics) -> tuple[int | None, int | None, int | None]:
    u = last.usage
    return (u.input_tokens, u.cache_write_tokens, u.cache_read_tokens)


def turn_section(last: TurnMetrics | None) -> Content:
    if last is None:
        return Content.styled("no turns yet", "$foreground-muted")
    prompt = last.usage.prompt_tokens
    return _lines([
        _row("first token", format_ms(last.ttft_s)),
        *thinking_rows(last),
        _row("total", format_duration(last.total_s)),
        _row("speed", format_rate(last.tokens_per_s)),
        _row("prompt", format_tokens(prompt).rjust(NUMBER_W)),
    ])  # fmt: skip


def thinking_rows(last: TurnMetrics) -> list[Content]:
    """A thinking turn's figures: first answer token, time and tokens spent thinking (``~``
    when estimated), and a stop reason other than a normal end. Nothing for other turns."""
    rows: list[Content] = []
    if last.thinking_s is not None or last.thinking_tokens is not None:
        tokens = format_tokens(last.thinking_tokens, last.thinking_estimated)
        rows.append(_row("first text", format_ms(last.first_text_s)))
        rows.append(_row("thinking", f"{format_duration(last.thinking_s)} · {tokens} tok"))
    if last.stop_reason not in (None, "end_turn", "stop_sequence"):
        rows.append(_row("stopped by", str(last.stop_reason), "$warning"))
    return rows


def split_section(last: TurnMetrics | None) -> Content:
    """Legend of the prompt bar with each part's tokens and share, then output tokens."""
    if last is None:
        return Content("")
    prompt = last.usage.prompt_tokens
    rows = []
    for (label, var), n in zip(PROMPT_PARTS, prompt_parts(last), strict=True):
        pct = format_percent(n, prompt)
        rows.append(Content.assemble(
            (BAR_CHAR, var), " ", (label.ljust(LABEL_W - 2), "$foreground-muted"),
            format_tokens(n).rjust(NUMBER_W), f"  {pct}" if pct else "",
        ))  # fmt: skip
    usage = last.usage
    output = format_tokens(usage.output_tokens, usage.output_estimated).rjust(NUMBER_W)
    rows.append(_row("output", output))
    return _lines(rows)


def cost_section(
    last: TurnMetrics | None, session: Cost, budget: tuple[str, bool] | None = None
) -> Content:
    turn_usd = last.cost.usd if last is not None else None
    saving = session.saving_usd
    pct = format_percent(saving, session.uncached_usd)
    saved = format_usd(saving) + (f" ({pct})" if pct and saving is not None else "")
    rows = [
        _row("this turn", format_usd(turn_usd), "$cost"),
        _row("session", format_usd(session.usd), "$cost"),
        _row("uncached", format_usd(session.uncached_usd)),
        _row("saved", saved, "$cache-read" if saving is not None and saving > 0 else ""),
    ]
    if budget is not None:
        line, warn = budget
        rows.append(_row("budget", ("⚠ " if warn else "") + line, "$warning" if warn else ""))
    return _lines(rows)


def latency_caption(history: Sequence[float | None]) -> Content:
    known = [v for v in history if v is not None]
    if not history:
        return Content.styled("no turns yet", "$foreground-muted")
    last = history[-1]
    top = max(known) if known else None
    turns = f"{len(history)} turn" + ("s" if len(history) != 1 else "")
    return Content.assemble(
        (f"{turns} · ", "$foreground-muted"), f"last {format_ms(last)}",
        ("  max ", "$foreground-muted"), format_ms(top),
    )  # fmt: skip


# -- charts and the whole panel -------------------------------------------------------------


def prompt_bar(values: tuple[int, int, int], width: int) -> Content:
    """The prompt split as three coloured runs filling ``width``."""
    cells = bar_cells(values, width)
    return Content.assemble(*[
        (BAR_CHAR * n, var) for n, (_, var) in zip(cells, PROMPT_PARTS, strict=True) if n
    ])  # fmt: skip


def latency_sparkline(history: tuple[float | None, ...], width: int) -> Content:
    """First-token latency per turn, newest at the right."""
    return Content.styled(sparkline(history, width), "$primary")


def panel_parts(data: PanelData | None) -> dict[str, Part]:
    """Every part the data shows, by name (see SECTIONS), but the cache status and its
    second line, which the panel's tick polls (:func:`cache_parts`)."""
    last = data.last if data else None
    reported = data is not None and data.cache_reported
    history = data.ttft_history if data else ()
    parts: dict[str, Part] = {
        "provider": provider_section(data),
        "document": document_section(data.document if data else None,
                                     data.documents if data else ()),
        "turn": turn_section(last),
        "cost": cost_section(last, data.session_cost if data else UNKNOWN_COST,
                             data.budget if data else None),
        "latency-caption": latency_caption(history),
    }  # fmt: skip
    if data is not None and data.tools is not None:
        parts["tools"] = tools_section(data.tools)
    if last is not None:
        if reported and last.usage.input_tokens is not None:
            uncached, write, read = prompt_parts(last)
            parts["prompt-bar"] = partial(prompt_bar, (uncached or 0, write or 0, read or 0))
        parts["prompt-split"] = split_section(last)
    rounds = rounds_section(data.rounds if data else ())
    if rounds:
        parts["rounds"] = rounds
    doctor = doctor_section(data)
    if doctor:
        parts["cache-doctor"] = doctor
    if history:
        parts["latency-sparkline"] = partial(latency_sparkline, history)
    return parts


def cache_parts(
    data: PanelData | None, state: Callable[[], CacheState], muted: str
) -> dict[str, Content]:
    """The cache status line (``state`` is polled only when the provider reports caching)
    and, when it does, what the requests ask for, or why the status is assumed."""
    if data is not None and not data.cache_reported:
        return {"cache-state": cache_status_line(f"not reported by {data.provider_label}",
                                                 "unknown", muted)}  # fmt: skip
    cache = state()
    parts = {"cache-state": cache_line(cache, muted)}
    if data is not None:
        assumed = cache.assumed and cache.status in ("warm", "expiring")
        ttl = ASSUMED_NOTE if assumed else f"requests ask for {data.ttl_label}"
        parts["cache-ttl"] = Content.styled(ttl, muted)
    return parts


def panel_lines(
    parts: dict[str, Part], width: int, lines_of: Callable[[Content], list[T]]
) -> list[T]:
    """The whole panel at ``width``, each of its pieces (a heading, a part, the blank line
    between sections) given to ``lines_of``: each shown section's heading and parts."""
    out: list[T] = []
    for title, names in SECTIONS:
        shown = [part if isinstance(part, Content) else part(width)
                 for name in names if (part := parts.get(name)) is not None]  # fmt: skip
        if shown:
            if out:
                out += lines_of(BLANK)
            out += lines_of(HEADINGS[title])
            for part in shown:
                out += lines_of(part)
    return out
