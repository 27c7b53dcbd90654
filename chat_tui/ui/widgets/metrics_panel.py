"""The metrics side panel: provider, document, last turn, cache countdown, cost, latency.

The panel is thin: it renders plain :class:`PanelData` it is given (after each turn, provider
switch or document load, never per token) and polls one callable for the cache state once a
tick. Everything is built as :class:`~textual.content.Content` from parts, never from markup,
so a model or document name such as ``[red]x.md`` shows literally; colours are theme
variables (``$cache-read``, ``$ttl-warm`` ...) resolved when drawn, so theme switches apply.
Figures a provider did not report show as "—", never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult, RenderResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

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


def cache_line(state: CacheState) -> Content:
    """The one-line cache status (colour comes from the widget's ``-<status>`` class)."""
    line = CACHE_WORDS[state.status].format(format_countdown(state.seconds_left))
    if state.assumed and state.status in ("warm", "expiring"):
        line += " (assumed)"
    return Content(line)


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


# -- widgets --------------------------------------------------------------------------------


class _LineChart(Widget):
    """A one-line chart drawn from ``values`` at the widget's current width."""

    DEFAULT_CSS = "_LineChart { height: 1; width: 1fr; }"

    def __init__(self, values: tuple[object, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values = values

    def set_values(self, values: tuple[object, ...]) -> None:
        if values != self.values:
            self.values = values
            self.refresh()


class StackedBar(_LineChart):
    """The prompt split as three coloured runs filling the width."""

    values: tuple[int, int, int]

    def render(self) -> RenderResult:
        cells = bar_cells(self.values, self.size.width)
        return Content.assemble(*[
            (BAR_CHAR * n, var) for n, (_, var) in zip(cells, PROMPT_PARTS, strict=True) if n
        ])  # fmt: skip


class LatencySparkline(_LineChart):
    """First-token latency per turn, newest at the right."""

    DEFAULT_CSS = "LatencySparkline { color: $primary; }"
    values: tuple[float | None, ...]

    def render(self) -> RenderResult:
        return Content(sparkline(self.values, self.size.width))


class MetricsPanel(VerticalScroll, can_focus=False):
    """The toggleable side panel. ``cache_state`` is polled once per ``tick`` seconds to
    drive the countdown (``tick <= 0``: no timer; call :meth:`refresh_countdown` yourself)."""

    DEFAULT_CSS = """
    MetricsPanel {
        width: 38; height: 1fr; padding: 0 1; scrollbar-size-vertical: 1;
        background: $surface; border-left: vkey $panel-lighten-1;
        & > .heading { color: $text-primary; text-style: bold; margin-top: 1; }
        & > .heading.-first { margin-top: 0; }
        & > #cache-state { text-style: bold; }
        & > #cache-state.-cold { color: $text-muted; text-style: none; }
        & > #cache-state.-warm { color: $ttl-warm; }
        & > #cache-state.-expiring { color: $ttl-expiring; }
        & > #cache-state.-expired { color: $ttl-expired; }
        & > #cache-state.-unknown { color: $text-muted; text-style: italic; }
        & > #cache-ttl { color: $text-muted; }
    }
    """

    def __init__(
        self,
        cache_state: Callable[[], CacheState],
        *,
        tick: float = 1.0,
        data: PanelData | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._cache_state = cache_state
        self._tick = tick
        self._data = data
        self._shown: tuple[str, str] | None = None
        self._provider = Static(id="provider", markup=False)
        self._document = Static(id="document", markup=False)
        self._turn = Static(id="turn", markup=False)
        self._bar = StackedBar((0, 0, 0), id="prompt-bar")
        self._split = Static(id="prompt-split", markup=False)
        self._rounds = Static(id="rounds", markup=False)
        self._tools = Static(id="tools", markup=False)
        self._cache = Static(id="cache-state", markup=False)
        self._ttl = Static(id="cache-ttl", markup=False)
        self._doctor = Static(id="cache-doctor", markup=False)
        self._cost = Static(id="cost", markup=False)
        self._spark = LatencySparkline((), id="latency-sparkline")
        self._latency = Static(id="latency-caption", markup=False)

    @property
    def data(self) -> PanelData | None:
        return self._data

    def compose(self) -> ComposeResult:
        sections: list[tuple[str, list[Widget]]] = [
            ("Provider", [self._provider]),
            ("Document", [self._document]),
            ("Tools", [self._tools]),
            ("Last turn", [self._turn, self._bar, self._split, self._rounds]),
            ("Cache", [self._cache, self._ttl, self._doctor]),
            ("Cost", [self._cost]),
            ("First-token latency", [self._spark, self._latency]),
        ]
        for index, (title, widgets) in enumerate(sections):
            heading = Static(title, classes="heading -first" if index == 0 else "heading")
            if title == "Tools":  # shown only when MCP servers are configured
                heading.id = "tools-heading"
                heading.display = self._tools.display = False
            yield heading
            yield from widgets

    def on_mount(self) -> None:
        self._render_sections()
        if self._tick > 0:
            self.set_interval(self._tick, self.refresh_countdown)

    def update_data(self, data: PanelData) -> None:
        """Re-render every section from ``data`` (once per turn, switch or document load)."""
        self._data = data
        self._render_sections()

    def refresh_countdown(self) -> None:
        """One tick: poll the cache state and touch the one-line status only if it changed."""
        data = self._data
        if data is not None and not data.cache_reported:
            status, content = "unknown", Content(f"not reported by {data.provider_label}")
        else:
            state = self._cache_state()
            status, content = state.status, cache_line(state)
        shown = (status, content.plain)
        if shown == self._shown:
            return
        assumed = content.plain.endswith("(assumed)")
        if self._shown is None or self._shown[1].endswith("(assumed)") != assumed:
            ttl = f"requests ask for {data.ttl_label}" if data else ""
            self._ttl.update(f"{ASSUMED_NOTE}" if assumed else ttl)
        status_changed = self._shown is None or self._shown[0] != status
        self._shown = shown
        if status_changed:
            self._cache.remove_class(*(f"-{s}" for s in CACHE_STATUSES))
            self._cache.add_class(f"-{status}")
        # Within one status the line keeps its length: no layout needed.
        self._cache.update(content, layout=status_changed)

    def _render_sections(self) -> None:
        data = self._data
        last = data.last if data else None
        reported = data is not None and data.cache_reported
        history = data.ttft_history if data else ()
        self._provider.update(provider_section(data))
        self._document.update(
            document_section(data.document if data else None, data.documents if data else ())
        )
        self._turn.update(turn_section(last))
        if last is not None:
            uncached, write, read = prompt_parts(last)
            self._bar.set_values((uncached or 0, write or 0, read or 0))
        self._bar.display = reported and last is not None and last.usage.input_tokens is not None
        self._split.update(split_section(last))
        self._split.display = last is not None
        rounds = rounds_section(data.rounds if data else ())
        self._rounds.update(rounds)
        self._rounds.display = bool(rounds.plain)
        tools = data.tools if data else None
        self._tools.update(tools_section(tools))
        self._tools.display = tools is not None
        for heading in self.query("#tools-heading"):
            heading.display = tools is not None
        self._ttl.update(f"requests ask for {data.ttl_label}" if data and reported else "")
        self._ttl.display = reported
        doctor = doctor_section(data)
        self._doctor.update(doctor)
        self._doctor.display = bool(doctor.plain)
        self._cost.update(
            cost_section(last, data.session_cost if data else UNKNOWN_COST,
                         data.budget if data else None)
        )  # fmt: skip
        self._spark.set_values(history)
        self._latency.update(latency_caption(history))
        self._shown = None  # cache_reported may have changed: redraw the cache line
        self.refresh_countdown()
