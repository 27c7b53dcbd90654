"""The message pane: a user turn, a finished Markdown answer and a failed answer."""

from __future__ import annotations

from textual.app import App, ComposeResult

from chat_tui.ui.themes import builtin_themes_dir, load_theme_file, theme_variable_defaults
from chat_tui.ui.widgets.message_pane import MessagePane

ANSWER = """## Prompt caching

The prefix is written on the **first** turn and read on later ones (`cache_control`):

- write: 1.25x the input price
- read: 0.1x, [bold]not markup[/bold]

```python
def cost(tokens: int, price: float) -> float:
    return tokens * price / 1_000_000  # dollars
```

| turn | cache | cost |
|------|-------|-----:|
| 1    | write | $0.031 |
| 2    | read  | $0.002 |"""


class PaneApp(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_load(self) -> None:
        self.register_theme(load_theme_file(builtin_themes_dir() / "chat-tui-dark.toml"))
        self.theme = "chat-tui-dark"

    def compose(self) -> ComposeResult:
        yield MessagePane()

    def on_mount(self) -> None:
        pane = self.query_one(MessagePane)
        pane.add_notice("Switched to Anthropic · claude-haiku-4-5 · api.anthropic.com")
        pane.add_user("How does prompt caching change the cost? [red]not markup[/red]")
        pane.add_assistant(ANSWER)
        pane.add_user("And with a 200k-token document?")
        failed = pane.start_assistant()
        failed.append("With a document that large, the first turn")
        failed.finish("failed", error="Anthropic is overloaded (HTTP 529): try again in a minute.")


app = PaneApp()

if __name__ == "__main__":
    app.run()
