"""The metrics panel after a cache-read turn, with a warm cache (a fake clock: 04:12 left)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from chat_tui.core.metrics import CacheClock, CacheKey, TurnMetrics
from chat_tui.core.pricing import Cost
from chat_tui.providers.events import Usage
from chat_tui.ui.themes import builtin_themes_dir, load_theme_file, theme_variable_defaults
from chat_tui.ui.widgets.metrics_panel import MetricsPanel
from chat_tui.ui.widgets.panel_sections import PanelData, PanelDocument

KEY = CacheKey("anthropic", "https://api.anthropic.com", "claude-haiku-4-5", "prefix")
NOW = 10_000.0

LAST = TurnMetrics(
    provider="anthropic",
    model="claude-haiku-4-5",
    ttft_s=0.412,
    total_s=3.87,
    tokens_per_s=112.4,
    usage=Usage(input_tokens=58, cache_write_tokens=0, cache_read_tokens=24_310, output_tokens=412),
    cost=Cost(0.004549, 0.026428),
)
DATA = PanelData(
    provider_label="Anthropic",
    model="claude-haiku-4-5",
    host="api.anthropic.com",
    document=PanelDocument("[red]handbook.md", 97_536, 24_180, True, ()),
    last=LAST,
    session_cost=Cost(0.0447, 0.0818),
    ttft_history=(2.140, 0.455, 0.398, 0.431, 0.412),
    cache_reported=True,
    ttl_label="5m",
)


class PanelApp(App[None]):
    CSS = "#chat { width: 1fr; padding: 1 2; color: $text-muted; }"

    def __init__(self) -> None:
        super().__init__()
        cache = CacheClock(lambda: NOW)
        cache.record(KEY, 300, started_at=NOW - 48)  # the last turn read the cache 48 s ago
        self.panel = MetricsPanel(lambda: cache.state(KEY), data=DATA, id="panel")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_load(self) -> None:
        self.register_theme(load_theme_file(builtin_themes_dir() / "chat-tui-dark.toml"))
        self.theme = "chat-tui-dark"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("conversation", id="chat")
            yield self.panel


app = PanelApp()

if __name__ == "__main__":
    app.run()
