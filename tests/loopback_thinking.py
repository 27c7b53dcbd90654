"""Thinking on the wire, for the loopback server: SSE bodies that stream reasoning in each
provider's shape, and a server that enforces the Messages API's thinking rules.

* :func:`anthropic_thinking_sse`: ``thinking`` blocks (``thinking_delta`` + one
  ``signature_delta``), ``redacted_thinking`` blocks (whole at ``content_block_start``), then text.
* :func:`openai_reasoning_sse`: reasoning in ``delta.reasoning_content`` (llama.cpp, DeepSeek) or
  ``delta.reasoning`` (Ollama, vLLM), ``completion_tokens_details.reasoning_tokens`` optional.
* :class:`ThinkingLoopback`: answers thinking requests with signed thinking (the signature is an
  HMAC over model and text, as opaque to the client as the real one), and answers with the
  API's 400 a request that breaks the rules the model table describes: a budget for an
  adaptive-only model, adaptive for a budget model, a budget below 1,024 or not below
  max_tokens, thinking for a model that has none, and a thinking block sent back changed or to
  another model (its signature no longer verifies).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chat_tui.core.models import lookup_model
from tests.loopback import SSE, LoopbackServer, Scripted, Status
from tests.loopback_wire import _event, openai_sse, split_tokens

_KEY = b"loopback-thinking"


def sign(model: str, text: str) -> str:
    mac = hmac.new(_KEY, f"{model}\x00{text}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def redacted_data(model: str) -> str:
    return "EmwKAhgB" + sign(model, "redacted")


def anthropic_thinking_sse(
    thinking: list[str],
    text: list[str],
    *,
    model: str = "claude-haiku-4-5",
    signature: str | None = None,
    redacted: bool = False,
    stop_reason: str = "end_turn",
    output_tokens: int | None = None,
    input_tokens: int = 25,
) -> bytes:
    """A Messages stream: one thinking block (deltas, then its signature), optionally a
    redacted block, then a text block (left out when ``text`` is empty: cut while thinking)."""
    whole = "".join(thinking)
    sig = sign(model, whole) if signature is None else signature
    usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}  # fmt: skip
    message = {"id": "msg_thinking", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {**usage, "output_tokens": 1}}  # fmt: skip
    events = [_event("message_start", {"type": "message_start", "message": message})]
    index = 0

    def block(content: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        events.append(_event("content_block_start", {"type": "content_block_start",
                                                     "index": index, "content_block": content}))  # fmt: skip
        for delta in deltas:
            events.append(_event("content_block_delta", {"type": "content_block_delta",
                                                         "index": index, "delta": delta}))  # fmt: skip
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": t} for t in thinking]
    if stop_reason != "max_tokens" or text:
        deltas.append({"type": "signature_delta", "signature": sig})
    block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    if redacted:
        block({"type": "redacted_thinking", "data": redacted_data(model)}, [])
    if text:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in text])
    out = output_tokens if output_tokens is not None else len(thinking) + len(text)
    events.append(_event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": stop_reason,
                                                     "stop_sequence": None},
                                           "usage": {"output_tokens": out}}))  # fmt: skip
    events.append(_event("message_stop", {"type": "message_stop"}))
    return b"".join(events)


def openai_reasoning_sse(
    reasoning: list[str],
    text: list[str],
    *,
    field: str = "reasoning_content",
    reasoning_tokens: int | None = None,
    finish_reason: str = "stop",
    prompt_tokens: int = 25,
) -> bytes:
    """A chat-completions stream with reasoning in ``delta.<field>`` before the content."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event(None, {"id": "chatcmpl-r", "object": "chat.completion.chunk",
                             "created": 1761561600, "model": "qwen3", "choices": [choice]})  # fmt: skip

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": None, field: r}) for r in reasoning]
    events += [chunk({"content": t}) for t in text]
    events.append(chunk({}, finish_reason))
    completion = len(reasoning) + len(text)
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                             "total_tokens": prompt_tokens + completion}  # fmt: skip
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    events.append(_event(None, {"id": "chatcmpl-r", "object": "chat.completion.chunk",
                                "created": 1761561600, "model": "qwen3", "choices": [],
                                "usage": usage}))  # fmt: skip
    return b"".join([*events, _event(None, "[DONE]")])


def inline_think_sse(content: str, size: int) -> bytes:
    """Reasoning inline in ``content`` (``<think>…</think>``), cut into ``size``-character chunks."""
    return openai_sse(split_tokens(content, size), cached_tokens=None)


# -- the rules --------------------------------------------------------------------------------


def thinking_error(body: dict[str, Any]) -> str | None:
    """The 400 message the Messages API would give this request's thinking, or None."""
    model = str(body.get("model"))
    info = lookup_model("anthropic", model)
    style = info.thinking if info is not None else "adaptive"
    config = body.get("thinking")
    max_tokens = body.get("max_tokens")
    if isinstance(config, dict) and config.get("type") != "disabled":
        if style == "none":
            return f"thinking is not supported for {model}"
        kind = config.get("type")
        if kind == "enabled" and style == "adaptive":
            return f'thinking.type "enabled" is not supported for {model}: use "adaptive"'
        if kind == "adaptive" and style == "budget":
            return f'thinking.type "adaptive" is not supported for {model}'
        if kind == "enabled":
            budget = config.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return "thinking.budget_tokens: must be greater than or equal to 1024"
            if not isinstance(max_tokens, int) or budget >= max_tokens:
                return "max_tokens must be greater than thinking.budget_tokens"
        if "budget_tokens" in config and kind == "adaptive":
            return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
        if config.get("display") not in (None, "summarized", "omitted"):
            return "thinking.display: must be summarized or omitted"
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and style == "budget":
        return f"output_config.effort is not supported for {model}"
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "thinking":
                if "cache_control" in block:
                    return "messages: cache_control cannot be set on thinking blocks"
                if block.get("signature") != sign(model, str(block.get("thinking"))):
                    return "messages: Invalid `signature` in `thinking` block"
            elif block.get("type") == "redacted_thinking" and block.get("data") != redacted_data(
                model
            ):
                return "messages: Invalid `data` in `redacted_thinking` block"
    return None


class ThinkingLoopback(LoopbackServer):
    """The loopback server, enforcing :func:`thinking_error` on every Messages request and
    answering a thinking request with signed thinking (``thinking_text``) before the answer."""

    thinking_text = "Let me think.\n\nThe user said *hi* — answer briefly. é ✓  "

    def _default(self, request: Any) -> Scripted | Any:
        body = request.body or {}
        if request.method == "POST" and request.path == "/v1/messages":
            problem = thinking_error(body)
            if problem is not None:
                return Status(400, self._error_body(request, 400, problem))
            config = body.get("thinking")
            if isinstance(config, dict) and config.get("type") in ("enabled", "adaptive"):
                reply = self.reply_text or "Hello."
                sse = anthropic_thinking_sse(
                    split_tokens(self.thinking_text, 7), split_tokens(reply),
                    model=str(body.get("model")), redacted=True,
                )  # fmt: skip
                tps = self.tokens_per_second
                return SSE(sse, chunk_delay=1 / tps if tps else 0.0)
        return super()._default(request)


def sent_thinking(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every thinking or redacted block a request sends back, in order."""
    return [
        block
        for message in body.get("messages") or []
        for block in (message.get("content") if isinstance(message.get("content"), list) else [])
        if block.get("type") in ("thinking", "redacted_thinking")
    ]


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
