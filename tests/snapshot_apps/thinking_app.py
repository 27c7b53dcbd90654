"""The message pane with thinking: a finished turn whose thinking folded when the answer began,
and a turn still thinking (pinned open, live header on a frozen clock) before its answer."""

from __future__ import annotations

from textual.app import App, ComposeResult

from chat_tui.ui.themes import builtin_themes_dir, load_theme_file, theme_variable_defaults
from chat_tui.ui.widgets.message_pane import MessagePane
from chat_tui.ui.widgets.thinking_block import TurnView

THOUGHT = (
    "The user asks whether caching pays off for a **200k-token** document.\n\n"
    "- first turn: a cache write at 1.25x\n- later turns: reads at 0.1x\n\n"
    "So from the second question on it is far cheaper. [red]not markup[/red] \x1b[31m"
)


class FrozenClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ThinkingApp(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_load(self) -> None:
        self.register_theme(load_theme_file(builtin_themes_dir() / "chat-tui-dark.toml"))
        self.theme = "chat-tui-dark"

    def compose(self) -> ComposeResult:
        yield MessagePane()

    def on_mount(self) -> None:
        clock = FrozenClock()
        pane = self.query_one(MessagePane)
        pane.add_user("Does caching pay off for a long document?")
        done = TurnView(pane, pane.start_assistant(), clock=clock)
        done.thinking(THOUGHT)
        clock.now += 3.6
        done.text("Yes: from the **second** question on, the document is read from the cache.")
        done.answer.finish("complete")
        done.end()
        pane.add_user("And with a 1-hour TTL?")
        live = TurnView(pane, pane.start_assistant(), clock=clock, pinned=True)
        live.thinking(THOUGHT)
        clock.now += 4.2


app = ThinkingApp()

if __name__ == "__main__":
    app.run()
