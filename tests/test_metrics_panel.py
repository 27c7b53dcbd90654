"""The metrics side panel: figures, unknowns, the cache countdown, markup safety, the bar."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import Static

from chat_tui.core.metrics import CacheClock, CacheKey, CacheState, TurnMetrics
from chat_tui.core.pricing import Cost
from chat_tui.providers.events import Usage
from chat_tui.ui.themes import theme_variable_defaults
from chat_tui.ui.widgets.metrics_panel import (
    LatencySparkline,
    MetricsPanel,
    PanelData,
    PanelDocument,
    StackedBar,
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


def text(panel: MetricsPanel, widget_id: str) -> str:
    content = panel.query_one(f"#{widget_id}", Static).content
    return content.plain if isinstance(content, Content) else str(content)


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
        assert panel.query_one(LatencySparkline).values == (2.1, 0.41, 0.39)


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
        assert not panel.query_one(StackedBar).display  # nothing to split
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
        cache_widget = panel.query_one("#cache-state", Static)
        assert text(panel, "cache-state") == "○ cold — next turn writes the cache"
        assert cache_widget.has_class("-cold")

        cache.record(KEY, 300, started_at=clock.now)  # a cache write
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 05:00"
        assert cache_widget.has_class("-warm") and not cache_widget.has_class("-cold")
        clock.now += 1
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 04:59"

        clock.now += 240  # 59 s left: the last minute
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "◐ expiring 00:59"
        assert cache_widget.has_class("-expiring")

        clock.now += 60
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "✕ expired — next turn writes again"
        assert cache_widget.has_class("-expired")

        cache.record(KEY, 300, started_at=clock.now)  # a cache read restarts the TTL
        panel.refresh_countdown()
        assert text(panel, "cache-state") == "● warm 05:00"
        await pilot.pause()


async def test_tick_touches_the_widget_only_when_the_text_changes(
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
    async with app.run_test(size=(60, 50)):
        panel.update_data(data())
        widget = panel.query_one("#cache-state", Static)
        updates: list[bool] = []
        original = widget.update

        def counting(content: object = "", *, layout: bool = True) -> None:
            updates.append(layout)
            original(content, layout=layout)  # type: ignore[arg-type]

        monkeypatch.setattr(widget, "update", counting)
        polls = 0
        for _ in range(5):
            clock.now += 0.1  # 04:59.5 .. still shows 05:00
            panel.refresh_countdown()
        assert polls == 5 and updates == []
        clock.now += 1
        panel.refresh_countdown()
        assert updates == [False]  # same status, same length: no layout


async def test_ollama_cache_not_reported() -> None:
    last = turn(input_tokens=900, output_tokens=50)
    ollama = data(provider_label="Ollama", cache_reported=False, last=last,
                  host="127.0.0.1:11434", session_cost=Cost(None, None))  # fmt: skip
    panel = MetricsPanel(lambda: pytest.fail("cache state polled for Ollama"), tick=0, data=ollama)
    async with PanelApp(panel).run_test(size=(60, 50)) as pilot:
        await pilot.pause()
        assert text(panel, "cache-state") == "not reported by Ollama"
        assert not panel.query_one("#cache-ttl").display
        assert not panel.query_one(StackedBar).display
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
        bar = panel.query_one(StackedBar)
        assert bar.display and bar.values == (100, 0, 900)
        width = bar.size.width
        rendered = bar.render()
        assert isinstance(rendered, Content)
        assert rendered.plain == "█" * width
        runs = [(span.end - span.start, span.style) for span in rendered.spans]
        assert runs == [
            (round(width * 0.1), "$uncached"),
            (width - round(width * 0.1), "$cache-read"),
        ]


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
