"""Streamed tool calls in each protocol's wire shape, for the loopback server
(``server.enqueue(SSE(...))``): Anthropic ``tool_use`` blocks with ``input_json_delta``, OpenAI
``delta.tool_calls`` (several indexed calls in one message, their pieces interleaved), and
Responses ``function_call`` items with ``response.function_call_arguments.delta``.

A call is ``Call(id, name, pieces)``: ``pieces`` is the arguments' JSON text as it streams (the
joined pieces need not be valid JSON: that is what the invalid-arguments tests send).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.loopback import LoopbackServer, RecordedRequest, Scripted, _Stream
from tests.loopback_responses import response_object, usage_object
from tests.loopback_wire import _event, openai_prompt, tokens_for


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    pieces: tuple[str, ...]

    @classmethod
    def of(cls, id: str, name: str, arguments: dict[str, Any], size: int = 6) -> Call:
        text = json.dumps(arguments)
        return cls(id, name, tuple(text[i : i + size] for i in range(0, len(text), size)))

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


def anthropic_tool_sse(
    calls: list[Call],
    *,
    text: str = "",
    input_tokens: int = 25,
    cache_write: int = 0,
    cache_read: int = 0,
    end: bool = True,
    usage: dict[str, Any] | None = None,
    message_id: str = "msg_tools",
) -> bytes:
    """A message with optional text, then each call as a ``tool_use`` block; ``stop_reason``
    ``tool_use``. ``end=False`` stops after the first call's first piece (a cut stream)."""
    usage = usage or {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
    }
    message = {"id": message_id, "type": "message", "role": "assistant",
               "model": "claude-loopback", "content": [], "stop_reason": None,
               "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}  # fmt: skip
    events = [_event("message_start", {"type": "message_start", "message": message})]
    index = 0
    if text:
        events += [
            _event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
            _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": text}}),
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]  # fmt: skip
        index = 1
    for call in calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        events.append(_event("content_block_start", {"type": "content_block_start",
                                                     "index": index, "content_block": block}))  # fmt: skip
        for piece in call.pieces:
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(_event("content_block_delta", {"type": "content_block_delta",
                                                         "index": index, "delta": delta}))  # fmt: skip
            if not end:
                return b"".join(events)
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    out = 10 * len(calls) + len(text)
    end_usage = {k: v for k, v in usage.items() if k != "cache_creation"} | {"output_tokens": out}
    events += [
        _event("message_delta", {"type": "message_delta", "usage": end_usage,
                                 "delta": {"stop_reason": "tool_use", "stop_sequence": None}}),
        _event("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(events)


def openai_tool_sse(
    calls: list[Call], *, text: str = "", prompt_tokens: int = 25, cached_tokens: int = 0
) -> bytes:
    """A chat stream whose one message makes every call: each call's first chunk carries its
    index, id and name; argument pieces follow interleaved across the calls."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event(None, {"id": "chatcmpl-tools", "object": "chat.completion.chunk",
                             "created": 1761561600, "model": "gpt-loopback",
                             "choices": [choice]})  # fmt: skip

    events = [chunk({"role": "assistant", "content": text or None})]
    for i, call in enumerate(calls):
        head = {"index": i, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}  # fmt: skip
        events.append(chunk({"tool_calls": [head]}))
    longest = max((len(c.pieces) for c in calls), default=0)
    for step in range(longest):
        for i, call in enumerate(calls):
            if step < len(call.pieces):
                piece = {"index": i, "function": {"arguments": call.pieces[step]}}
                events.append(chunk({"tool_calls": [piece]}))
    events.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 10 * len(calls),
             "total_tokens": prompt_tokens + 10 * len(calls),
             "prompt_tokens_details": {"cached_tokens": cached_tokens}}  # fmt: skip
    events.append(_event(None, {"id": "chatcmpl-tools", "object": "chat.completion.chunk",
                                "created": 1761561600, "model": "gpt-loopback", "choices": [],
                                "usage": usage}))  # fmt: skip
    return b"".join([*events, _event(None, "[DONE]")])


def responses_tool_sse(calls: list[Call], *, input_tokens: int = 25, cached: int = 0) -> bytes:
    """A Responses stream whose output is the function calls, one output item each."""
    seq = 0

    def ev(data: dict[str, Any]) -> bytes:
        nonlocal seq
        data["sequence_number"] = seq
        seq += 1
        return (
            f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        )

    items = [{"type": "function_call", "id": f"fc_{i}", "call_id": c.id, "name": c.name,
              "arguments": c.arguments, "status": "completed"} for i, c in enumerate(calls)]  # fmt: skip
    out = [ev({"type": "response.created", "response": response_object("in_progress")})]
    for i, (call, item) in enumerate(zip(calls, items, strict=True)):
        added = {**item, "arguments": "", "status": "in_progress"}
        out.append(ev({"type": "response.output_item.added", "output_index": i, "item": added}))
        for piece in call.pieces:
            out.append(ev({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                           "output_index": i, "delta": piece}))  # fmt: skip
        out.append(ev({"type": "response.function_call_arguments.done", "item_id": item["id"],
                       "output_index": i, "arguments": call.arguments, "name": call.name}))  # fmt: skip
        out.append(ev({"type": "response.output_item.done", "output_index": i, "item": item}))
    usage = usage_object(input_tokens, 10 * len(calls), cached=cached)
    done = response_object("completed", usage=usage, output=items)
    out.append(ev({"type": "response.completed", "response": done}))
    return b"".join(out)


class ToolLoopback(LoopbackServer):
    """The loopback server, answering with the tool calls in ``calls`` (FIFO, one list per
    request) while there are some, with prompt usage from its cache simulation (so a tool
    round reads what the previous request wrote); then as usual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[list[Call]] = []

    def _default(self, request: RecordedRequest) -> Scripted | _Stream:
        body = request.body or {}
        if not self.calls or request.method != "POST":
            return super()._default(request)
        if request.path == "/v1/messages":
            usage = self.anthropic_cache.usage(
                body, min_tokens=self.min_cache_tokens, now=self.clock()
            )
            message_id = f"msg_loopback_{len(self.anthropic_bodies) + 1}"
            self.anthropic_bodies[message_id] = body  # for the next request's diagnostics
            sse = anthropic_tool_sse(self.calls.pop(0), usage=usage, message_id=message_id)
        elif request.path == "/v1/chat/completions":
            prompt = openai_prompt(body)
            cached = self.openai_cache.cached(str(body.get("model")), prompt,
                                              min_tokens=self.min_cache_tokens)  # fmt: skip
            sse = openai_tool_sse(self.calls.pop(0), prompt_tokens=tokens_for(len(prompt)),
                                  cached_tokens=cached)  # fmt: skip
        else:
            return super()._default(request)
        events = [e + b"\n\n" for e in sse.split(b"\n\n") if e]
        return _Stream(events, self._delays(events))
