"""Building a batch's requests and cutting them into batches at the providers' limits.

Every request is built by :meth:`Conversation.build_request`, exactly like the first question of
a chat, so all of them (and the prewarm request, and a chat about the same documents) share one
cached prefix: the system prompt, then the documents, with the cache breakpoint after them.
:func:`batch_request` is the one place that adapts a chat request to a batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chat_tui.core.conversation import Conversation
from chat_tui.core.documents import Document
from chat_tui.errors import ChatTuiError
from chat_tui.providers.events import CacheTTL, ChatRequest

MB = 1024 * 1024
ENVELOPE_BYTES = 64 * 1024  # room for the request's own JSON around the lines


class BatchError(ChatTuiError):
    """A batch could not be submitted, polled or read; the message says what to do."""


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


LIMITS: dict[str, BatchLimits] = {
    "anthropic": BatchLimits(100_000, 256 * MB),
    "openai": BatchLimits(50_000, 200 * MB),
}


def prefix_conversation(system_prompt: str, documents: Sequence[Document]) -> Conversation:
    """The conversation every question of a batch starts from: the shared prefix."""
    return Conversation(system_prompt=system_prompt, documents=list(documents))


def batch_request(
    prefix: Conversation, question: str, *, model: str, ttl: CacheTTL, max_tokens: int, kind: str
) -> ChatRequest:
    """The request for one question, built as a chat's first question is, so the prefix is byte
    for byte a chat's. The question's own cache breakpoint is dropped: each question is asked
    once, and writing it to the cache would cost the write premium for nothing."""
    conversation = Conversation(system_prompt=prefix.system_prompt, documents=prefix.documents)
    conversation.ask(question)
    request = conversation.build_request(model, ttl=ttl, max_tokens=max_tokens, provider=kind)
    return replace(request, messages=tuple(replace(m, cache=False) for m in request.messages))


def line_size(line: dict[str, Any]) -> int:
    """The bytes one request line takes in the batch (its JSON, a separator and a newline)."""
    return len(json.dumps(line).encode()) + 2


def split_sizes(sizes: Sequence[tuple[str, int]], limits: BatchLimits) -> list[list[int]]:
    """Cut requests (``custom_id, bytes``, in order) into batches of at most
    ``limits.max_requests`` requests and ``limits.max_bytes`` bytes; returns the indices of
    each batch's requests."""
    budget = max(1, limits.max_bytes - min(ENVELOPE_BYTES, limits.max_bytes // 8))
    parts: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, (custom_id, n) in enumerate(sizes):
        if n > budget:
            raise BatchError(
                f"the request for {custom_id} is {n:,} bytes, over the provider's batch limit"
                f" of {limits.max_bytes:,}: use shorter documents"
            )
        if current and (len(current) >= limits.max_requests or size + n > budget):
            parts.append(current)
            current, size = [], 0
        current.append(index)
        size += n
    if current:
        parts.append(current)
    return parts
