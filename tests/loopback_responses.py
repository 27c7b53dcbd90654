"""The OpenAI Responses API for the loopback server: SSE bodies in the shape OpenAI streams
(``event:`` name + JSON ``data:`` with ``type`` and ``sequence_number``), and a server that
answers ``POST /v1/responses`` and ``/v1/responses/input_tokens`` on top of
:class:`tests.loopback.LoopbackServer` (same plumbing, same scripted faults).

    with ResponsesLoopback() as server:
        server.enqueue(SSE(responses_sse(["Hel", "lo"], cached=1024)))
        server.reject_fields.add("prompt_cache_options")   # 400 naming the field, like a proxy

Standalone, to try the app by hand (``api = "responses"`` with the printed OpenAI base URL):
``python -m tests.loopback_responses --port 8765``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.loopback import LoopbackServer, RecordedRequest, Scripted, Status, _Stream, main
from tests.loopback_wire import content_text, split_tokens, tokens_for

RESPONSE_ID = "resp_loopback"


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def response_object(
    status: str,
    *,
    model: str = "gpt-loopback",
    response_id: str = RESPONSE_ID,
    usage: dict[str, Any] | None = None,
    output: list[dict[str, Any]] | None = None,
    error: dict[str, Any] | None = None,
    incomplete: str | None = None,
    diagnostics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1764201600,
        "status": status,
        "model": model,
        "output": output or [],
        "usage": usage,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "store": False,
        "prompt_cache_diagnostics": diagnostics,
    }


def usage_object(
    input_tokens: int,
    output_tokens: int,
    *,
    cached: int | None = 0,
    cache_write: int | None = 0,
    reasoning: int = 0,
) -> dict[str, Any]:
    """Responses usage. ``cached=None`` leaves out ``input_tokens_details`` (compatible
    servers); ``cache_write=None`` leaves out only ``cache_write_tokens`` (older models)."""
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
    if cached is not None:
        details: dict[str, Any] = {"cached_tokens": cached}
        if cache_write is not None:
            details["cache_write_tokens"] = cache_write
        usage["input_tokens_details"] = details
    return usage


def responses_events(
    chunks: list[str],
    *,
    reasoning: list[str] | None = None,
    usage: dict[str, Any] | None = None,
    end: str = "completed",
    incomplete: str | None = None,
    error: dict[str, Any] | None = None,
    error_event: dict[str, Any] | None = None,
    error_after: int | None = None,
    function_call: str | None = None,
    refusal: bool = False,
    diagnostics: dict[str, Any] | None = None,
    model: str = "gpt-loopback",
    response_id: str = RESPONSE_ID,
) -> list[bytes]:
    """One streamed response: created, in_progress, a reasoning item with its summary deltas,
    a message item with its content part and text deltas (or refusal deltas), optionally a
    function call with argument deltas, then ``response.<end>`` carrying ``usage``.
    ``error_event=`` ends the stream with an ``error`` event after ``error_after`` text deltas."""
    seq = iter(range(1_000_000))
    out: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append(_sse({"type": kind, "sequence_number": next(seq), **fields}))

    def response(status: str, **extra: Any) -> dict[str, Any]:
        return response_object(status, model=model, response_id=response_id, **extra)

    emit("response.created", response=response("in_progress"))
    emit("response.in_progress", response=response("in_progress"))
    index = 0
    if reasoning:
        item = {"id": "rs_1", "type": "reasoning", "summary": []}
        emit("response.output_item.added", output_index=index, item=item)
        part = {"type": "summary_text", "text": ""}
        emit("response.reasoning_summary_part.added", item_id="rs_1", output_index=index,
             summary_index=0, part=part)  # fmt: skip
        for text in reasoning:
            emit("response.reasoning_summary_text.delta", item_id="rs_1", output_index=index,
                 summary_index=0, delta=text)  # fmt: skip
        whole = "".join(reasoning)
        emit("response.reasoning_summary_text.done", item_id="rs_1", output_index=index,
             summary_index=0, text=whole)  # fmt: skip
        emit("response.reasoning_summary_part.done", item_id="rs_1", output_index=index,
             summary_index=0, part={"type": "summary_text", "text": whole})  # fmt: skip
        summary = [{"type": "summary_text", "text": whole}]
        emit("response.output_item.done", output_index=index, item={**item, "summary": summary})
        index += 1
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress",
               "content": []}  # fmt: skip
    emit("response.output_item.added", output_index=index, item=message)
    part_type, delta_kind = ("refusal", "refusal") if refusal else ("output_text", "output_text")
    empty: dict[str, Any] = {"type": part_type, part_type if refusal else "text": ""}
    if not refusal:
        empty["annotations"] = []
    emit("response.content_part.added", item_id="msg_1", output_index=index, content_index=0,
         part=empty)  # fmt: skip
    for i, text in enumerate(chunks):
        if error_event is not None and error_after is not None and i >= error_after:
            emit("error", **error_event)
            return out
        extra = {} if refusal else {"logprobs": []}
        emit(f"response.{delta_kind}.delta", item_id="msg_1", output_index=index,
             content_index=0, delta=text, **extra)  # fmt: skip
    whole = "".join(chunks)
    if error_event is not None:
        emit("error", **error_event)
        return out
    done_text = {"refusal": whole} if refusal else {"text": whole, "logprobs": []}
    emit(f"response.{delta_kind}.done", item_id="msg_1", output_index=index, content_index=0,
         **done_text)  # fmt: skip
    emit("response.output_item.done", output_index=index,
         item={**message, "status": "completed", "content": [{"type": part_type}]})  # fmt: skip
    if function_call is not None:
        index += 1
        call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "lookup",
                "arguments": "", "status": "in_progress"}  # fmt: skip
        emit("response.output_item.added", output_index=index, item=call)
        for piece in split_tokens(function_call, 6):
            emit("response.function_call_arguments.delta", item_id="fc_1", output_index=index,
                 delta=piece)  # fmt: skip
        emit("response.function_call_arguments.done", item_id="fc_1", output_index=index,
             name="lookup", arguments=function_call)  # fmt: skip
    status = {"completed": "completed", "incomplete": "incomplete", "failed": "failed"}[end]
    final = response(
        status, usage=usage, error=error, incomplete=incomplete, diagnostics=diagnostics
    )
    emit(f"response.{end}", response=final)
    return out


def responses_sse(chunks: list[str], **kwargs: Any) -> bytes:
    """:func:`responses_events` as one SSE body, for ``SSE(...)``. Without ``usage=``, usage
    of 25 input tokens (``cached``/``cache_write`` keywords passed through), output = chunks."""
    if "usage" not in kwargs:
        cached = kwargs.pop("cached", 0)
        write = kwargs.pop("cache_write", 0)
        kwargs["usage"] = usage_object(25, len(chunks), cached=cached, cache_write=write)
    return b"".join(responses_events(chunks, **kwargs))


def responses_prompt(body: dict[str, Any]) -> str:
    """The prompt as one string, in the order the model sees it (for the cache simulation)."""
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    text = f"\nsystem: {body.get('instructions') or ''}"
    return text + "".join(f"\n{m.get('role')}: {content_text(m.get('content'))}" for m in items)


class ResponsesLoopback(LoopbackServer):
    """The loopback server, also speaking the Responses API. By default it echoes the last
    user message, simulates OpenAI's prefix cache (the Chat Completions simulation, plus exact
    ``cache_write_tokens`` as newer models report), cuts at ``max_output_tokens`` with
    ``response.incomplete``, and returns ``diagnostics`` (when set) on every response.
    ``reject_fields``: request fields answered with a 400 naming them, as strict servers do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reject_fields: set[str] = set()
        self.diagnostics: dict[str, Any] | None = None
        self.responses = 0

    def _default(self, request: RecordedRequest) -> Scripted | _Stream:
        body = request.body or {}
        if request.method == "POST" and request.path == "/v1/responses":
            for name in sorted(self.reject_fields):
                if name in body:
                    message = f"Unknown parameter: '{name}'."
                    error = {"message": message, "type": "invalid_request_error",
                             "param": name, "code": "unknown_parameter"}  # fmt: skip
                    return Status(400, {"error": error})
            return self._responses_reply(body)
        if request.method == "POST" and request.path == "/v1/responses/input_tokens":
            tokens = tokens_for(len(responses_prompt(body)))
            return Status(200, {"object": "response.input_tokens", "input_tokens": tokens})
        return super()._default(request)

    def _responses_reply(self, body: dict[str, Any]) -> _Stream:
        items = [m for m in body.get("input") or [] if isinstance(m, dict)]
        chunks, cut = self._reply_chunks(items, body.get("max_output_tokens"))
        prompt = responses_prompt(body)
        model = str(body.get("model"))
        tokens = tokens_for(len(prompt))
        cached = self.openai_cache.cached(model, prompt, min_tokens=self.min_cache_tokens)
        write = tokens - cached if tokens >= self.min_cache_tokens else 0
        self.responses += 1
        events = responses_events(
            chunks,
            usage=usage_object(tokens, len(chunks), cached=cached, cache_write=write),
            end="incomplete" if cut else "completed",
            incomplete="max_output_tokens" if cut else None,
            diagnostics=self.diagnostics,
            model=model,
            response_id=f"resp_loopback_{self.responses}",
        )
        return _Stream(events, self._delays(events))


if __name__ == "__main__":
    main(server_class=ResponsesLoopback)
