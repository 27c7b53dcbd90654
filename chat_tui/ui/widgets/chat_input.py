"""The prompt input: multi-line, Enter sends, ctrl+j (or shift+enter where the terminal reports
it) inserts a newline, up/down walk the history of sent prompts while the input is empty or
showing a recalled prompt."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")


class ChatInput(TextArea):
    DEFAULT_CSS = """
    ChatInput {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: tall $accent 40%;
        &:focus { border: tall $accent; }
    }
    """

    @dataclass
    class Submitted(Message):
        input: ChatInput
        text: str

    def __init__(self, history: list[str] | None = None, **kwargs: object) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            **kwargs,  # type: ignore[arg-type]
        )
        self.prompt_history = history if history is not None else []
        self._history_index: int | None = None  # index into history while browsing
        self.placeholder = "Ask anything · Enter sends · ctrl+j newline · ↑ history"
        # A steady cursor: blinking redraws the input twice a second, most of the idle CPU.
        self.cursor_blink = False

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if event.key in ("up", "down") and self._browsing_history():
            event.stop()
            event.prevent_default()
            self._step_history(-1 if event.key == "up" else 1)
            return
        await super()._on_key(event)

    def submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        self._history_index = None
        self.post_message(self.Submitted(self, text))

    def _browsing_history(self) -> bool:
        if not self.prompt_history:
            return False
        if not self.text:
            return True
        return (
            self._history_index is not None
            and self.text == self.prompt_history[self._history_index]
        )

    def _step_history(self, step: int) -> None:
        if self._history_index is None:
            if step > 0:
                return
            index = len(self.prompt_history) - 1
        else:
            index = self._history_index + step
        if index >= len(self.prompt_history):
            self._history_index = None
            self.load_text("")
            return
        index = max(0, index)
        self._history_index = index
        self.load_text(self.prompt_history[index])
        self.move_cursor(self.document.end)
