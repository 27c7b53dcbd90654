"""The metrics side panel: figures, unknowns, the cache countdown, markup safety, the bar."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rich.style import Style as RichStyle
from textual.app import App, ComposeResult
from textual.color import Color
from textual.containers import Horizontal
from textual.geometry import Region
from textual.widgets import Static

from chat_tui.core.metrics import CacheClock, CacheKey, CacheState, TurnMetrics
from chat_tui.core.pricing import Cost
from chat_tui.providers.events import Usage
from chat_tui.ui.themes import theme_variable_defaults
from chat_tui.ui.widgets.metrics_panel import MetricsPanel
from chat_tui.ui.widgets.panel_sections import (
    ASSUMED_NOTE,
    CACHE_STYLES,
    PanelData,
    PanelDocument,
    bar_cells,
    format_duration,
    format_ms,
    format_percent,
    format_size,
    sparkline,
)

KEY = CacheKey("anthropic", None, "claude-haiku-4-5", "prefix")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class PanelApp(App[None]):
    def __init__(self, panel: MetricsPanel) -> None:
        super().__init__()
        self.panel = panel

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        yield self.panel


def turn(**usage: int | None) -> TurnMetrics:
    return TurnMetrics(
        provider="anthropic",
        model="claude-haiku-4-5",
        ttft_s=0.412,
        total_s=2.31,
        tokens_per_s=85.24,
        usage=Usage(**usage),  # type: ignore[arg-type]
        cost=Cost(0.0012, 0.0093),
    )


def data(**changes: object) -> PanelData:
    base = {
        "provider_label": "Anthropic",
        "model": "claude-haiku-4-5",
        "host": "api.anthropic.com",
        "document": PanelDocument("guide.md", 12_800, 3120, False, ("near the context limit",)),
        "last": turn(
            input_tokens=312, cache_write_tokens=0, cache_read_tokens=4000, output_tokens=1234
        ),
        "session_cost": Cost(0.0020, 0.0150),
        "ttft_history": (2.1, 0.41, 0.39),
        "cache_reported": True,
        "ttl_label": "5m",
    }
    base.update(changes)
    return PanelData(**base)  # type: ignore[arg-type]


def text(panel: MetricsPanel, part: str) -> str:
    shown = panel.section_text(part)
    assert shown is not None, f"{part} is hidden"
    return shown


def cache_status(panel: MetricsPanel) -> str:
    """The status the cache line is drawn in, from its style."""
    part = panel.body.part("cache-state")
    assert part is not None
    [span] = part.spans
    muted = panel.app.theme_variables["text-muted"]
    statuses = {**{style: s for s, style in CACHE_STYLES.items()}, muted: "cold",
                f"italic {muted}": "unknown"}  # fmt: skip
    return statuses[str(span.style)]


def cold() -> CacheState:
    return CacheState("cold", None, None)


def make(state: Callable[[], CacheState] = cold) -> tuple[PanelApp, MetricsPanel]:
    panel = MetricsPanel(state, tick=0)
    return PanelApp(panel), panel


async def test_figures_rendered() -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        provider = text(panel, "provider")
        assert "Anthropic" in provider and "api.anthropic.com" in provider
        doc = text(panel, "document")
        assert "guide.md" in doc and "12.5 KB" in doc and "~3,120" in doc
        assert "⚠ near the context limit" in doc
        turn_text = text(panel, "turn")
        assert "412 ms" in turn_text and "2.31 s" in turn_text and "85.2 tok/s" in turn_text
        assert "4,312" in turn_text  # whole prompt: 312 + 0 + 4000
        split = text(panel, "prompt-split")
        assert "uncached" in split and "312" in split and "7 %" in split
        assert "cache read" in split and "4,000" in split and "93 %" in split
        assert "1,234" in split and "~1,234" not in split
        cost = text(panel, "cost")
        assert "$0.0012" in cost and "$0.0020" in cost and "$0.015" in cost
        assert "saved" in cost and "$0.013" in cost and "(87 %)" in cost
        assert text(panel, "cache-ttl") == "requests ask for 5m"
        assert "3 turns" in text(panel, "latency-caption")
        assert text(panel, "latency-sparkline") == sparkline((2.1, 0.41, 0.39), 40)


async def test_unknown_figures_show_a_dash_never_zero() -> None:
    unknown = TurnMetrics("openai", "m", None, None, None, Usage(), Cost(None, None))
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data(last=unknown, session_cost=Cost(None, None), document=None))
        await pilot.pause()
        turn_text = text(panel, "turn")
        for label in ("first token", "total", "speed", "prompt"):
            line = next(x for x in turn_text.splitlines() if x.startswith(label))
            assert line.split()[-1] == "—"
        split = text(panel, "prompt-split")
        assert "0" not in split and split.count("—") == 4
        cost = text(panel, "cost")
        assert "$0" not in cost and cost.count("—") == 4
        assert panel.section_text("prompt-bar") is None  # nothing to split
        assert text(panel, "document") == "none — ctrl+o to load"


async def test_estimated_output_has_tilde() -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        last = turn(input_tokens=10, output_tokens=4312, output_estimated=True)
        panel.update_data(data(last=last))
        await pilot.pause()
        assert "~4,312" in text(panel, "prompt-split")


async def test_countdown_with_fake_clock() -> None:
    clock = FakeClock()
    cache = CacheClock(clock)
    app, panel = make(lambda: cache.state(KEY))
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        assert text(panel, "cache-state") == "○ cold — next turn writes the cache"
        assert cache_status(panel) == "cold"

        cache.record(KEY, 300, started_at=clock.now)  # a cache write
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 05:00"
        assert cache_status(panel) == "warm"
        clock.now += 1
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 04:59"

        clock.now += 240  # 59 s left: the last minute
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "◐ expiring 00:59"
        assert cache_status(panel) == "expiring"

        clock.now += 60
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "✕ expired — next turn writes again"
        assert cache_status(panel) == "expired"

        cache.record(KEY, 300, started_at=clock.now)  # a cache read restarts the TTL
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 05:00"
        await pilot.pause()


async def test_tick_redraws_only_when_the_line_changes_and_never_lays_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    cache = CacheClock(clock)
    cache.record(KEY, 300, started_at=clock.now)
    polls = 0

    def state() -> CacheState:
        nonlocal polls
        polls += 1
        return cache.state(KEY)

    app, panel = make(state)
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        refreshes: list[tuple[bool, tuple[Region, ...]]] = []
        original = panel.body.refresh

        def counting(*regions: Region, repaint: bool = True, layout: bool = False,
                     recompose: bool = False) -> object:  # fmt: skip
            refreshes.append((layout, regions))
            return original(*regions, repaint=repaint, layout=layout, recompose=recompose)

        monkeypatch.setattr(panel.body, "refresh", counting)
        width = panel.body.size.width
        row = panel.lines(wrap=True).index("● warm 05:00")
        polls = 0
        for _ in range(5):
            clock.now += 0.1  # 04:59.5 .. still shows 05:00
            panel.refresh_countdown()
        assert polls == 5 and refreshes == []
        clock.now += 1
        panel.refresh_countdown()
        # Same status, same length: the one row repainted, no layout.
        assert refreshes == [(False, (Region(0, row, width, 1),))]
        assert text(panel, "cache-state") == "● warm 04:59"
        await pilot.pause()
        assert "● warm 04:59" in app.export_screenshot().replace("&#160;", " ")
        clock.now += 240  # a new status, still one line: the same
        panel.refresh_countdown()
        assert refreshes[1:] == [(False, (Region(0, row, width, 1),))]
        assert cache_status(panel) == "expiring"
        await pilot.pause()
        assert "◐ expiring 00:59" in panel.lines()
        assert "◐ expiring 00:59" in app.export_screenshot().replace("&#160;", " ")
        assert drawn_style(panel, "◐ expiring 00:59").bold


async def test_ollama_cache_not_reported() -> None:
    last = turn(input_tokens=900, output_tokens=50)
    ollama = data(provider_label="Ollama", cache_reported=False, last=last,
                  host="127.0.0.1:11434", session_cost=Cost(None, None))  # fmt: skip
    panel = MetricsPanel(lambda: pytest.fail("cache state polled for Ollama"), tick=0, data=ollama)
    async with PanelApp(panel).run_test(size=(60, 50)) as pilot:
        await pilot.pause()
        assert text(panel, "cache-state") == "not reported by Ollama"
        assert cache_status(panel) == "unknown"
        assert panel.section_text("cache-ttl") is None
        assert panel.section_text("prompt-bar") is None
        split = text(panel, "prompt-split")
        assert "900" in split and split.count("—") == 2  # cache write and read unknown


async def test_names_are_never_markup() -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        doc = PanelDocument("[red]x.md", 10, 3, True, ("[bold]warn[/bold]",))
        panel.update_data(data(model="[b]model[/b]", document=doc, provider_label="[i]P"))
        await pilot.pause()
        assert "[b]model[/b]" in text(panel, "provider")
        assert "[i]P" in text(panel, "provider")
        assert "[red]x.md" in text(panel, "document")
        assert "[bold]warn[/bold]" in text(panel, "document")
        assert "tokens        3" in text(panel, "document")  # counted: no "~"
        screen = app.export_screenshot()
        assert "[red]x.md" in screen.replace("&#160;", " ")


async def test_bar_proportions() -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        last = turn(input_tokens=100, cache_write_tokens=0, cache_read_tokens=900,
                    output_tokens=5)  # fmt: skip
        panel.update_data(data(last=last))
        await pilot.pause()
        rendered = panel.body.part("prompt-bar")
        assert rendered is not None
        width = panel.body.size.width
        assert width == 38 - 1 - 2  # the panel's width less its border and padding
        assert rendered.plain == "█" * width
        runs = [(span.end - span.start, span.style) for span in rendered.spans]
        assert runs == [
            (round(width * 0.1), "$uncached"),
            (width - round(width * 0.1), "$cache-read"),
        ]
        assert "█" * width in panel.lines()


def test_bar_cells() -> None:
    assert bar_cells([100, 0, 900], 30) == [3, 0, 27]
    assert bar_cells([1, 1, 1], 10) == [4, 3, 3]
    assert sum(bar_cells([5, 7, 11], 31)) == 31
    assert bar_cells([1, 0, 10_000], 20) == [1, 0, 19]  # a tiny non-zero part stays visible
    assert bar_cells([0, 0, 0], 20) == [0, 0, 0]
    assert bar_cells([3, 4], 0) == [0, 0]


def test_sparkline_cold_turn_stands_out() -> None:
    line = sparkline([2.0, 0.4, 0.38, None, 0.41], 40)
    assert line == "█▂▂·▂"
    assert sparkline([1.0] * 50, 10) == "█" * 10
    assert sparkline([], 10) == ""


def test_formatters() -> None:
    assert format_ms(0.412) == "412 ms"
    assert format_ms(1.2345) == "1,234 ms"
    assert format_ms(12.3) == "12.3 s"
    assert format_ms(None) == "—"
    assert format_duration(2.314) == "2.31 s"
    assert format_duration(65) == "1m 05s"
    assert format_size(512) == "512 B"
    assert format_size(12_800) == "12.5 KB"
    assert format_size(3 * 1024 * 1024) == "3.0 MB"


async def test_update_before_mount_and_theme_switch() -> None:
    panel = MetricsPanel(cold, tick=0, data=data())
    app = PanelApp(panel)
    async with app.run_test(size=(60, 50)) as pilot:
        assert "claude-haiku-4-5" in text(panel, "provider")
        for name in ("textual-light", "nord", "ansi-dark"):
            app.theme = name
            await pilot.pause()
            assert (
                app.theme_variables["cache-read"]
                == theme_variable_defaults(app.current_theme)["cache-read"]
            )


def test_percent_never_rounds_to_a_false_zero_or_hundred() -> None:
    assert format_percent(58, 24_368) == "<1 %"
    assert format_percent(24_310, 24_368) == ">99 %"
    assert format_percent(0, 100) == "0 %"
    assert format_percent(100, 100) == "100 %"
    assert format_percent(1, None) == ""


# -- one widget draws the panel ---------------------------------------------------------------


def drawn_style(panel: MetricsPanel, line: str) -> RichStyle:
    """The style a line of the panel is drawn in (its first character's)."""
    y = panel.lines().index(line)
    [strip] = panel.body.render_lines(Region(0, y, panel.body.size.width, 1))
    segment = next(s for s in strip if s.text.strip())
    assert line.startswith(segment.text.strip()[:1]) and segment.style is not None
    return segment.style


def hex_of(style: RichStyle) -> str:
    assert style.color is not None and style.color.triplet is not None
    return style.color.triplet.hex


async def test_height_is_the_number_of_lines_and_a_short_terminal_scrolls() -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        lines = panel.lines()
        assert lines[:2] == ["Provider", "provider      Anthropic"]
        assert "Tools" not in lines  # no MCP servers configured
        assert lines.count("") == 5  # a blank line between the six sections shown
        assert panel.body.size.height == len(lines)
        assert panel.max_scroll_y == 0
        panel.update_data(data(document=None))  # three lines fewer: laid out again
        await pilot.pause()
        assert panel.body.size.height == len(panel.lines()) == len(lines) - 3
    app, panel = make()
    async with app.run_test(size=(60, 20)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        lines = panel.lines(wrap=True)  # a scrollbar takes a column: the caption wraps
        assert lines[-2:] == ["3 turns · last 390 ms  max 2,100", "ms"]
        assert len(panel.lines()) == len(lines) - 2  # and one other line
        assert panel.body.size.height == len(lines) > 20
        assert panel.max_scroll_y == len(lines) - 20
        panel.scroll_end(animate=False)
        await pilot.pause()
        screen = app.export_screenshot().replace("&#160;", " ")
        assert "First-token latency" in screen and "Provider" not in screen


class ProbeApp(PanelApp):
    """The panel beside a Static drawn in $text-muted by CSS on the panel's background."""

    CSS = "#probe { color: $text-muted; background: $surface; width: 10; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("probe", id="probe")
            yield self.panel


async def test_cache_line_colour_and_weight_per_status_and_theme() -> None:
    clock = FakeClock()
    cache = CacheClock(clock)
    panel = MetricsPanel(lambda: cache.state(KEY), tick=0)
    app = ProbeApp(panel)
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        variables = app.theme_variables
        css_muted = app.query_one("#probe").rich_style.color
        assert css_muted is not None and css_muted.triplet is not None
        muted = drawn_style(panel, "requests ask for 5m")  # the TTL line: $text-muted
        assert hex_of(muted) == css_muted.triplet.hex  # as the CSS property draws it
        cold = drawn_style(panel, "○ cold — next turn writes the cache")
        assert hex_of(cold) == hex_of(muted) and not cold.bold and not cold.italic
        cache.record(KEY, 300, started_at=clock.now)
        for advance, line, variable in [
            (0, "● warm 05:00", "ttl-warm"),
            (250, "◐ expiring 00:50", "ttl-expiring"),
            (60, "✕ expired — next turn writes again", "ttl-expired"),
        ]:
            clock.now += advance
            panel.refresh_countdown()
            await pilot.pause()
            style = drawn_style(panel, line)
            assert style.bold and hex_of(style) == Color.parse(variables[variable]).hex.lower()
        heading = drawn_style(panel, "Cache")
        primary = Color.parse(variables["text-primary"]).hex.lower()
        assert heading.bold and hex_of(heading) == primary

        app.theme = "textual-light"  # the variables are resolved when drawn
        await pilot.pause()
        light = app.theme_variables
        assert light["text-primary"] != variables["text-primary"]
        heading = drawn_style(panel, "Cache")
        assert hex_of(heading) == Color.parse(light["text-primary"]).hex.lower()
        muted_now = drawn_style(panel, "requests ask for 5m")
        assert hex_of(muted_now) == app.query_one("#probe").rich_style.color.triplet.hex  # type: ignore[union-attr]
        assert hex_of(muted_now) != hex_of(muted)

        panel.update_data(data(provider_label="Ollama", cache_reported=False))
        await pilot.pause()
        unknown = drawn_style(panel, "not reported by Ollama")
        assert unknown.italic and not unknown.bold and hex_of(unknown) == hex_of(muted_now)


async def test_bar_and_sparkline_fill_the_width_and_follow_a_resize() -> None:
    app, panel = make()
    history = tuple(0.4 + (i % 7) / 10 for i in range(80))  # more turns than columns
    async with app.run_test(size=(80, 50)) as pilot:
        panel.update_data(data(ttft_history=history))
        for outer in (50, 30):
            panel.styles.width = outer
            await pilot.pause()
            width = panel.body.size.width
            assert width == outer - 3  # less the border and the padding
            bar = text(panel, "prompt-bar")
            spark = text(panel, "latency-sparkline")
            assert bar == "█" * width and spark == sparkline(history, width)
            assert len(spark) == width and bar in panel.lines() and spark in panel.lines()
            assert panel.body.size.height == len(panel.lines(wrap=True))  # no chart wrapped


def count_layouts(monkeypatch: pytest.MonkeyPatch, panel: MetricsPanel) -> list[bool]:
    """From now on, the ``layout`` flag of every refresh the panel's body asks for."""
    layouts: list[bool] = []
    original = panel.body.refresh

    def counting(*regions: Region, repaint: bool = True, layout: bool = False,
                 recompose: bool = False) -> object:  # fmt: skip
        layouts.append(layout)
        return original(*regions, repaint=repaint, layout=layout, recompose=recompose)

    monkeypatch.setattr(panel.body, "refresh", counting)
    return layouts


async def test_assumed_warm_cache_says_why_and_lays_out_for_the_longer_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    states = [CacheState("cold", None, None)]
    app, panel = make(lambda: states[-1])
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        height = panel.body.size.height
        layouts = count_layouts(monkeypatch, panel)
        states.append(CacheState("warm", 300.0, 300.0, assumed=True))
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 05:00 (assumed)"
        assert text(panel, "cache-ttl") == ASSUMED_NOTE
        assert layouts == [True]  # the note wraps: three lines at this width
        await pilot.pause()
        assert panel.body.size.height == height + 2 == len(panel.lines(wrap=True))
        states.append(CacheState("expired", 0.0, 300.0))
        layouts.clear()
        panel.refresh_countdown()
        assert text(panel, "cache-ttl") == "requests ask for 5m" and layouts == [True]
        await pilot.pause()
        assert panel.body.size.height == height


async def test_new_figures_on_the_same_rows_are_drawn_without_a_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, panel = make()
    async with app.run_test(size=(60, 50)) as pilot:
        panel.update_data(data())
        await pilot.pause()
        screen = app.export_screenshot().replace("&#160;", " ")
        assert "$0.0020" in screen and "$0.50" not in screen
        layouts = count_layouts(monkeypatch, panel)
        panel.update_data(data(session_cost=Cost(0.50, 0.90), ttft_history=(2.1, 0.41, 0.8)))
        assert layouts == [False]
        await pilot.pause()
        screen = app.export_screenshot().replace("&#160;", " ")
        assert "$0.50" in screen and "$0.0020" not in screen
        assert sparkline((2.1, 0.41, 0.8), 40) in screen and "last 800 ms" in screen
        panel.update_data(data(session_cost=Cost(0.50, 0.90), ttft_history=(2.1, 0.41, 0.8)))
        assert layouts == [False]  # nothing changed: nothing redrawn
