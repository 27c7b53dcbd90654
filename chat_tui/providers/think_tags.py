"""Split inline ``<think>…</think>`` reasoning out of streamed answer text.

Some models served by OpenAI-compatible servers (Qwen3, DeepSeek-R1 through a plain chat
template) put their reasoning in the content itself. Chunks may split a tag at any character,
so a possible tag at the end of a chunk is held back until the next chunk (or the end)
decides; nothing else is delayed. The blank lines between a leading ``</think>`` and the
answer are dropped. A stray ``</think>`` outside reasoning (templates that put the opening tag in the
prompt) is dropped too, so raw tags never reach the pane.
"""

from __future__ import annotations

from typing import Literal

OPEN, CLOSE = "<think>", "</think>"
Kind = Literal["text", "thinking"]


def _held_prefix(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of one of ``tags``."""
    for n in range(min(max(len(t) for t in tags) - 1, len(text)), 0, -1):
        if any(t.startswith(text[-n:]) and len(t) > n for t in tags):
            return n
    return 0


class ThinkTagSplitter:
    """``feed(chunk)`` returns the (kind, text) pieces it can decide; ``close()`` the rest."""

    def __init__(self) -> None:
        self.thinking = False
        self._held = ""
        self._after_close = False  # the blank lines between </think> and the answer are dropped
        self._answered = False  # answer text (not just blank space) has been seen

    def feed(self, chunk: str) -> list[tuple[Kind, str]]:
        text, self._held = self._held + chunk, ""
        out: list[tuple[Kind, str]] = []
        while text:
            tags = (CLOSE,) if self.thinking else (OPEN, CLOSE)
            found = [(i, t) for t in tags if (i := text.find(t)) != -1]
            if not found:
                hold = _held_prefix(text, tags)
                self._held = text[len(text) - hold :]
                self._emit(out, text[: len(text) - hold])
                break
            at, tag = min(found)
            self._emit(out, text[:at])
            text = text[at + len(tag) :]
            if tag == OPEN:
                self.thinking = True
            elif self.thinking:
                self.thinking = False
                self._after_close = not self._answered
            # else: a stray closing tag outside reasoning, dropped
        return out

    def _emit(self, out: list[tuple[Kind, str]], text: str) -> None:
        if self._after_close and not self.thinking:
            text = text.lstrip()
            self._after_close = not text
        if text and not self.thinking and not self._answered:
            self._answered = not text.isspace()
        if text:
            kind: Kind = "thinking" if self.thinking else "text"
            if out and out[-1][0] == kind:
                out[-1] = (kind, out[-1][1] + text)
            else:
                out.append((kind, text))

    def close(self) -> list[tuple[Kind, str]]:
        """The end of the stream: whatever was held back is what it looked like."""
        out: list[tuple[Kind, str]] = []
        held, self._held = self._held, ""
        self._emit(out, held)
        return out
