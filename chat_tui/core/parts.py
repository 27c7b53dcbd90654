"""Message parts in storage (versioned JSON) and an answer's parts assembled from its stream.

Stored form (the ``messages.parts`` column, migration m005)::

    {"v": 1, "parts": [{"type": "thinking", "text": "...", "signature": "..."},
                       {"type": "text", "text": "..."}, ...]}

Thinking text and signatures are kept byte-exact (JSON strings round-trip any Unicode);
document bytes are base64. An unknown part type or version reads as nothing rather than
failing: the message's plain ``text`` column is still there.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from chat_tui.providers.events import (
    DocumentPart,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)

VERSION = 1


def part_to_dict(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ThinkingPart):
        return {"type": "thinking", "text": part.text, "signature": part.signature}
    if isinstance(part, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": part.data}
    if isinstance(part, ToolUsePart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "arguments": part.arguments}
    if isinstance(part, ToolResultPart):
        return {"type": "tool_result", "tool_use_id": part.tool_use_id, "content": part.content,
                "is_error": part.is_error}  # fmt: skip
    out: dict[str, Any] = {"type": "document", "name": part.name, "media_type": part.media_type}
    if part.text is not None:
        out["text"] = part.text
    if part.data is not None:
        out["data"] = base64.b64encode(part.data).decode("ascii")
    if part.file_id is not None:
        out["file_id"] = part.file_id
    return out


def part_from_dict(d: dict[str, Any]) -> Part | None:
    kind = d.get("type")
    try:
        if kind == "text":
            return TextPart(str(d["text"]))
        if kind == "thinking":
            return ThinkingPart(str(d["text"]), str(d.get("signature") or ""))
        if kind == "redacted_thinking":
            return RedactedThinkingPart(str(d["data"]))
        if kind == "tool_use":
            arguments = str(d.get("arguments") or "")
            return ToolUsePart(str(d["id"]), str(d["name"]), arguments, _parse(arguments))
        if kind == "tool_result":
            return ToolResultPart(
                str(d["tool_use_id"]), str(d.get("content") or ""), bool(d.get("is_error"))
            )
        if kind == "document":
            data = d.get("data")
            return DocumentPart(
                name=str(d["name"]),
                media_type=str(d["media_type"]),
                text=d.get("text"),
                data=None if data is None else base64.b64decode(data),
                file_id=d.get("file_id"),
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _parse(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def dumps(parts: list[Part] | tuple[Part, ...]) -> str:
    # ASCII escapes: any string survives, even a lone surrogate SQLite could not encode.
    return json.dumps({"v": VERSION, "parts": [part_to_dict(p) for p in parts]},
                      separators=(",", ":"))  # fmt: skip


def loads(raw: str | None) -> list[Part] | None:
    """The parts stored in ``raw``; None when there are none or they cannot be read."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("v") != VERSION
        or not isinstance(doc.get("parts"), list)
    ):
        return None
    parts = [part_from_dict(d) for d in doc["parts"] if isinstance(d, dict)]
    return [p for p in parts if p is not None]


class AnswerParts:
    """Builds an answer's parts from its stream, in the order they came: text deltas join the
    open text part, reasoning deltas the open thinking part, and a finished block from the
    provider (:class:`~chat_tui.providers.events.PartDone`) replaces the reasoning shown so far
    with the exact block (its signature included)."""

    def __init__(self) -> None:
        self._done: list[Part] = []
        self._text: list[str] = []
        self._thinking: list[str] = []
        self.text_chars = self.thinking_chars = 0

    def text(self, text: str) -> None:
        self._close_thinking()
        self._text.append(text)
        self.text_chars += len(text)

    def thinking(self, text: str) -> None:
        self._close_text()
        self._thinking.append(text)
        self.thinking_chars += len(text)

    def done(self, part: Part) -> None:
        self._close_text()
        if isinstance(part, ThinkingPart | RedactedThinkingPart):
            self._thinking.clear()  # the block replaces its deltas, byte-exact
        else:
            self._close_thinking()
        self._done.append(part)

    def _close_text(self) -> None:
        if self._text:
            self._done.append(TextPart("".join(self._text)))
            self._text.clear()

    def _close_thinking(self) -> None:
        if self._thinking:
            self._done.append(ThinkingPart("".join(self._thinking)))
            self._thinking.clear()

    def parts(self) -> list[Part]:
        """Everything so far (open parts included), without closing anything."""
        out = list(self._done)
        if self._thinking:
            out.append(ThinkingPart("".join(self._thinking)))
        if self._text:
            out.append(TextPart("".join(self._text)))
        return out

    def thinking_text(self) -> str:
        return "".join(p.text for p in self.parts() if isinstance(p, ThinkingPart))

    def answer_text(self) -> str:
        return "".join(p.text for p in self.parts() if isinstance(p, TextPart))

    def output_text(self) -> str:
        """Everything generated as text: the answer and the reasoning."""
        return "".join(p.text for p in self.parts() if isinstance(p, TextPart | ThinkingPart))

    @property
    def answered(self) -> bool:
        return self.text_chars > 0

    @property
    def thought(self) -> bool:
        return self.thinking_chars > 0 or any(
            isinstance(p, ThinkingPart | RedactedThinkingPart) for p in self._done
        )
