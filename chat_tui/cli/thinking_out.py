"""What ``ask`` shows of thinking: the reasoning on stderr (``--show-thinking``), dim when
stderr is a terminal, and the thinking figures of the ``--json`` report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from chat_tui.cli.common import ms

if TYPE_CHECKING:
    from chat_tui.core.metrics import TurnMetrics

DIM, RESET = "\x1b[2m", "\x1b[0m"


class ThinkingWriter:
    """Streams reasoning (already sanitised by the session) to ``stream``; stdout keeps only
    the answer, so pipes get the answer alone."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.dim = bool(isatty and isatty())
        self.wrote = False
        self._ends_with_newline = True

    def write(self, text: str) -> None:
        if not text:
            return
        self.stream.write(DIM + text + RESET if self.dim else text)
        self.stream.flush()
        self.wrote = True
        self._ends_with_newline = text.endswith("\n")

    def end(self) -> None:
        """Finish the thinking with a line break, so stderr's next line starts clean."""
        if self.wrote and not self._ends_with_newline:
            self.stream.write("\n")
            self.stream.flush()


def thinking_fields(m: TurnMetrics) -> dict[str, Any]:
    """The thinking and stop figures of ``ask --json``: None where unknown."""
    return {
        "first_text_ms": ms(m.first_text_s),
        "thinking_ms": ms(m.thinking_s),
        "thinking_tokens": m.thinking_tokens,
        "thinking_estimated": m.thinking_estimated,
        "stop_reason": m.stop_reason,
    }


def thinking_summary(m: TurnMetrics) -> list[str]:
    """The plain summary line's thinking figures: nothing for a turn without thinking."""
    if m.thinking_s is None:
        return []
    first = ms(m.first_text_s)
    return [f"first text {'—' if first is None else first} ms",
            f"thinking {ms(m.thinking_s)} ms"]  # fmt: skip
