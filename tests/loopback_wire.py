"""Wire-format helpers for the loopback server: SSE bodies in the Anthropic and OpenAI shapes,
the byte-exact fixtures, and the prompt-cache simulations the server uses by default."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve()
FIXTURE_DIRS = (_HERE.parent / "fixtures" / "sse", _HERE.parents[2] / "shared" / "fixtures" / "sse")
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20  # a breakpoint looks this many blocks back for an earlier cached prefix
MAX_BREAKPOINTS = 4


def fixture(name: str) -> bytes:
    """A byte-exact SSE transcript: the copy in tests/fixtures/sse, else ../shared/fixtures/sse."""
    for folder in FIXTURE_DIRS:
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    raise FileNotFoundError(f"no SSE fixture {name!r} in {[str(d) for d in FIXTURE_DIRS]}")


def _event(name: str | None, data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


def anthropic_events(
    chunks: list[str],
    usage: dict[str, Any],
    *,
    output_tokens: int | None,
    stop_reason: str,
    error_after: int | None,
    model: str = "claude-loopback",
    message_id: str = "msg_loopback",
    diagnostics: dict[str, Any] | None = None,
) -> list[bytes]:
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    if diagnostics is not None:
        message["diagnostics"] = diagnostics
    events = [
        _event("message_start", {"type": "message_start", "message": message}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event("ping", {"type": "ping"}),
    ]
    for i, chunk in enumerate(chunks):
        if error_after is not None and i >= error_after:
            break
        delta = {"type": "text_delta", "text": chunk}
        events.append(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    if error_after is not None:
        error = {"type": "overloaded_error", "message": "Overloaded"}
        return [*events, _event("error", {"type": "error", "error": error})]
    out = len(chunks) if output_tokens is None else output_tokens
    end_usage = {k: v for k, v in usage.items() if k != "cache_creation"} | {"output_tokens": out}
    delta_end = {"stop_reason": stop_reason, "stop_sequence": None}
    return [
        *events,
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", {"type": "message_delta", "delta": delta_end, "usage": end_usage}),
        _event("message_stop", {"type": "message_stop"}),
    ]


def anthropic_sse(
    text_chunks: list[str],
    *,
    input_tokens: int = 25,
    cache_write: int = 0,
    cache_read: int = 0,
    ttl: str = "5m",
    output_tokens: int | None = None,
    stop_reason: str = "end_turn",
    error_after: int | None = None,
) -> bytes:
    """An Anthropic stream; ``error_after=N`` ends with an overloaded ``event: error`` after N
    deltas. ``output_tokens`` defaults to the number of chunks."""
    usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_write if ttl == "5m" else 0,
            "ephemeral_1h_input_tokens": cache_write if ttl == "1h" else 0,
        },
    }
    events = anthropic_events(
        text_chunks,
        usage,
        output_tokens=output_tokens,
        stop_reason=stop_reason,
        error_after=error_after,
    )
    return b"".join(events)


def openai_events(
    chunks: list[str],
    *,
    prompt_tokens: int,
    cached_tokens: int | None,
    include_usage: bool,
    error_after: int | None,
    finish_reason: str = "stop",
    model: str = "gpt-loopback",
) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event(
            None,
            {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "created": 1761561600,
                "model": model,
                "choices": [choice],
            },
        )

    events = [chunk({"role": "assistant", "content": ""})]
    for i, text in enumerate(chunks):
        if error_after is not None and i >= error_after:
            error = {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "code": None,
            }
            return [*events, _event(None, {"error": error})]
        events.append(chunk({"content": text}))
    events.append(chunk({}, finish_reason))
    if include_usage:
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(chunks),
            "total_tokens": prompt_tokens + len(chunks),
        }
        if cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens, "audio_tokens": 0}
        events.append(
            _event(
                None,
                {
                    "id": "chatcmpl-loopback",
                    "object": "chat.completion.chunk",
                    "created": 1761561600,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                },
            )
        )
    return [*events, _event(None, "[DONE]")]


def openai_sse(
    text_chunks: list[str],
    *,
    prompt_tokens: int = 25,
    cached_tokens: int | None = 0,
    include_usage: bool = True,
    error_after: int | None = None,
    finish_reason: str = "stop",
) -> bytes:
    """An OpenAI chat stream. ``cached_tokens=None`` omits prompt_tokens_details (Ollama);
    ``error_after=N`` ends with a ``data: {"error": ...}`` event after N content chunks."""
    return b"".join(
        openai_events(
            text_chunks,
            prompt_tokens=prompt_tokens,
            cached_tokens=cached_tokens,
            include_usage=include_usage,
            error_after=error_after,
            finish_reason=finish_reason,
        )
    )


def split_tokens(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def tokens_for(chars: int) -> int:
    return math.ceil(chars / 4)


def _block_text(block: Any) -> str:
    if isinstance(block, dict):
        if block.get("type") == "text":
            return str(block.get("text", ""))
        return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)
    return str(block)


def content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(_block_text(b) for b in content)
    return "" if content is None else str(content)


def anthropic_blocks(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The prompt as (text, ttl of its cache_control or None): tools, system, then messages."""
    out: list[tuple[str, str | None]] = []

    def add(text: str, block: Any) -> None:
        cc = block.get("cache_control") if isinstance(block, dict) else None
        out.append((text, str(cc.get("ttl") or "5m") if isinstance(cc, dict) else None))

    for tool in body.get("tools") or []:
        add(_block_text(tool), tool)
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        add(_block_text(block), block)
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [content] if isinstance(content, str) else content or []
        for i, block in enumerate(blocks):
            add((f"\n{message.get('role')}: " if i == 0 else "") + _block_text(block), block)
    return out


def event_text(event: bytes) -> str | None:
    for line in event.decode(errors="replace").splitlines():
        if line.startswith("data:") and "{" in line:
            with contextlib.suppress(ValueError, AttributeError, IndexError, TypeError):
                data = json.loads(line[5:])
                if data.get("type") == "content_block_delta":
                    return data["delta"].get("text")  # type: ignore[no-any-return]
                if data.get("choices"):
                    return data["choices"][0]["delta"].get("content")  # type: ignore[no-any-return]
    return None


class AnthropicCacheSim:
    """Prefix caching as the Messages API does it, simplified: the longest cached prefix that ends
    within LOOKBACK_BLOCKS before a breakpoint is read (and its TTL refreshed); every later
    breakpoint whose prefix reaches ``min_tokens`` is written, the tokens between breakpoints
    billed at that breakpoint's ttl. Cache entries are per model and per exact prefix."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, str]] = {}  # prefix hash → (expiry, ttl)

    def usage(self, body: dict[str, Any], *, min_tokens: int, now: float) -> dict[str, Any]:
        blocks = anthropic_blocks(body)
        digest = hashlib.sha256(str(body.get("model")).encode())
        hashes, tokens, chars = [], [], 0
        for text, _ in blocks:
            digest.update(text.encode())
            hashes.append(digest.hexdigest())
            chars += len(text)
            tokens.append(tokens_for(chars))
        marks = [i for i, (_, ttl) in enumerate(blocks) if ttl]
        read_at = -1
        for i, key in enumerate(hashes):
            entry = self.entries.get(key)
            if entry and entry[0] > now and any(0 <= b - i <= LOOKBACK_BLOCKS for b in marks):
                read_at = i
        if read_at >= 0:
            ttl = self.entries[hashes[read_at]][1]
            self.entries[hashes[read_at]] = (now + TTL_SECONDS.get(ttl, 300.0), ttl)
        read = tokens[read_at] if read_at >= 0 else 0
        written = {"5m": 0, "1h": 0}
        done = read
        for b in marks:
            ttl = blocks[b][1] or "5m"
            if b > read_at and tokens[b] >= min_tokens:
                written[ttl] = written.get(ttl, 0) + tokens[b] - done
                done = tokens[b]
                self.entries[hashes[b]] = (now + TTL_SECONDS.get(ttl, 300.0), ttl)
        write = sum(written.values())
        return {
            "input_tokens": (tokens[-1] if tokens else 0) - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }


class OpenAICacheSim:
    """Automatic prefix caching: the longest prefix of the prompt seen before (same model),
    in 128-token steps, once it reaches ``min_tokens``."""

    def __init__(self) -> None:
        self.prompts: dict[str, list[str]] = {}

    def cached(self, model: str, prompt: str, *, min_tokens: int) -> int:
        seen = self.prompts.setdefault(model, [])
        common = max((_common_prefix(p, prompt) for p in seen), default=0)
        seen.append(prompt)
        cached = common // 4  # whole tokens only
        return (cached // 128) * 128 if cached >= min_tokens else 0


def openai_prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    return "".join(f"\n{m.get('role')}: {content_text(m.get('content'))}" for m in messages)


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))  # noqa: RUF071 - character-wise on purpose


def anthropic_cache_miss(
    previous: dict[str, Any] | None, body: dict[str, Any]
) -> dict[str, Any] | None:
    """The ``diagnostics.cache_miss_reason`` the Messages API would report for ``body``
    against the earlier request ``previous`` (None: that id is unknown): the first part of
    the prefix that differs, tools → system → messages, or None when the prefix matches."""
    if previous is None:
        return {"type": "previous_message_not_found"}
    prompt_tokens = tokens_for(sum(len(text) for text, _ in anthropic_blocks(previous)))
    for field in ("model", "tools", "system"):
        if previous.get(field) != body.get(field):
            kind = {"model": "model_changed", "tools": "tools_changed", "system": "system_changed"}
            return {"type": kind[field], "cache_missed_input_tokens": prompt_tokens}
    before = [content_text(m.get("content")) for m in previous.get("messages") or []]
    after = [content_text(m.get("content")) for m in body.get("messages") or []]
    if after[: len(before)] != before:
        return {"type": "messages_changed", "cache_missed_input_tokens": prompt_tokens}
    return None
