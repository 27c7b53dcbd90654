"""Scripted replies for the loopback server: an answer made of content blocks (thinking, text,
tool calls), streamed at a given rate in the Anthropic Messages protocol.

Adding a scenario to the benchmarks is then: build the reply, hand it to the server, ask::

    reply = anthropic_reply([Thinking(words(800)), Text(markdown_answer(1500))], rate=500)
    server.script(reply)                   # the next request gets it; then the default again
    server.script(first_reply, follow_up)  # e.g. a tool call, then the answer after its result

and measure the app as the other benchmarks do (see benchmarks/README.md, "Adding a
scenario"). ``ScriptEvent`` is the raw form (an SSE event name, its JSON and a delay), for
protocols or shapes the builders here do not cover.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from benchmarks.server import ScriptEvent

__all__ = ["Text", "Thinking", "ToolUse", "anthropic_reply", "tokens"]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Thinking:
    text: str
    signature: str = "c2lnbmF0dXJlLWxvb3BiYWNr"  # opaque to the client; sent back verbatim


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = "toolu_loopback_1"


Block = Text | Thinking | ToolUse


def tokens(text: str, size: int = 4) -> list[str]:
    """The pieces the server streams: ``size``-character tokens, as the default reply."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def anthropic_reply(
    blocks: list[Block],
    *,
    rate: float | None = None,
    first_byte_delay: float = 0.0,
    input_tokens: int = 25,
    model: str = "claude-haiku-4-5",
) -> list[ScriptEvent]:
    """One Messages API stream: ``message_start``, each block's start / deltas / stop, then
    ``message_delta`` (stop reason ``tool_use`` when a block is a tool call) and
    ``message_stop``. Deltas come at ``rate`` a second (None: all at once); a tool call's
    arguments are streamed as ``input_json_delta`` pieces."""
    step = 1 / rate if rate else 0.0
    usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, "output_tokens": 1}  # fmt: skip
    message = {"id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
    events = [ScriptEvent("message_start", {"type": "message_start", "message": message},
                          first_byte_delay)]  # fmt: skip
    output = 0

    def delta(index: int, body: dict[str, Any]) -> ScriptEvent:
        return ScriptEvent("content_block_delta",
                           {"type": "content_block_delta", "index": index, "delta": body}, step)  # fmt: skip

    for index, block in enumerate(blocks):
        if isinstance(block, Text):
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [delta(index, {"type": "text_delta", "text": t}) for t in tokens(block.text)]
        elif isinstance(block, Thinking):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [delta(index, {"type": "thinking_delta", "thinking": t})
                      for t in tokens(block.text)]  # fmt: skip
            deltas.append(delta(index, {"type": "signature_delta", "signature": block.signature}))
        else:
            start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            deltas = [delta(index, {"type": "input_json_delta", "partial_json": t})
                      for t in tokens(json.dumps(block.input), 16)]  # fmt: skip
        output += len(deltas)
        events.append(ScriptEvent("content_block_start", {"type": "content_block_start",
                                                          "index": index, "content_block": start}))  # fmt: skip
        events += deltas
        events.append(ScriptEvent("content_block_stop", {"type": "content_block_stop",
                                                         "index": index}))  # fmt: skip
    stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    end_usage = {**usage, "output_tokens": output}
    events.append(ScriptEvent("message_delta", {"type": "message_delta", "usage": end_usage,
                                                "delta": {"stop_reason": stop,
                                                          "stop_sequence": None}}))  # fmt: skip
    events.append(ScriptEvent("message_stop", {"type": "message_stop"}))
    return events
