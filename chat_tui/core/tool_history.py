"""A turn's parts as provider messages, valid whatever happened to the turn.

A turn with tools is several messages: the question, the model's calls, their results (a user
message, results first), the model's next answer, and so on. An exchange stores the whole turn
as one sequence of parts; :func:`turn_messages` splits it back into alternating messages.

The history sent must be valid for every provider: each ``tool_use`` has its ``tool_result`` in
the next user message. A call cut off by a stop or a crash has none: it is closed with an error
result (:data:`CUT_CALL`) before the next request. Consecutive messages of one role (a turn that
ended on tool results, then the next question) are merged, results first.
"""

from __future__ import annotations

from collections.abc import Sequence

from chat_tui.providers.events import Message, Part, Role, TextPart, ToolResultPart, ToolUsePart

CUT_CALL = "This tool call did not run: the turn was stopped or cut off before its result."


def has_content(parts: Sequence[Part]) -> bool:
    """True when an answer has something to send back: text or a tool call."""
    return any(
        (isinstance(p, TextPart) and p.text.strip()) or isinstance(p, ToolUsePart) for p in parts
    )


def split_rounds(parts: Sequence[Part]) -> list[tuple[Role, list[Part]]]:
    """The parts as (role, parts) segments: the model's parts are the assistant's, tool
    results the user's; every call gets a result (an error one for a cut call)."""
    segments: list[tuple[Role, list[Part]]] = []
    for part in parts:
        role: Role = "user" if isinstance(part, ToolResultPart) else "assistant"
        if segments and segments[-1][0] == role:
            segments[-1][1].append(part)
        else:
            segments.append((role, [part]))
    closed: list[tuple[Role, list[Part]]] = []
    for i, (role, seg) in enumerate(segments):
        closed.append((role, seg))
        if role != "assistant":
            continue
        calls = [p.id for p in seg if isinstance(p, ToolUsePart)]
        if not calls:
            continue
        answered = set()
        if i + 1 < len(segments):
            answered = {p.tool_use_id for p in segments[i + 1][1] if isinstance(p, ToolResultPart)}
        missing: list[Part] = [
            ToolResultPart(c, CUT_CALL, True) for c in calls if c not in answered
        ]
        if missing:
            if i + 1 < len(segments):
                segments[i + 1][1].extend(missing)
            else:
                closed.append(("user", missing))
    return closed


def turn_messages(user: str, parts: Sequence[Part], note: str | None = None) -> list[Message]:
    """The question and the answer's parts as messages. ``note`` (a cut answer's) is added to
    the last assistant message, which says it was not finished."""
    messages = [Message.of("user", user)]
    segments = split_rounds(parts)
    if note is not None:
        last_assistant = max(
            (i for i, (r, _) in enumerate(segments) if r == "assistant"), default=None
        )
        if last_assistant is None:
            segments.append(("assistant", []))
            last_assistant = len(segments) - 1
        seg = segments[last_assistant][1]
        text = "".join(p.text for p in seg if isinstance(p, TextPart)).rstrip()
        kept = [p for p in seg if not isinstance(p, TextPart)]
        body = f"{text}\n\n{note}" if text else note
        segments[last_assistant] = ("assistant", [TextPart(body), *kept])
    for role, seg in segments:
        if role == "assistant" and not has_content(seg):
            seg = [*seg, TextPart("(no answer)")]
        messages.append(Message(role, tuple(seg)))
    return messages


def merge_adjacent(messages: list[Message]) -> list[Message]:
    """Join consecutive messages of one role (providers want them alternating)."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1].role == m.role:
            prev = out[-1]
            out[-1] = Message(m.role, prev.parts + m.parts, prev.cache or m.cache)
        else:
            out.append(m)
    return out
