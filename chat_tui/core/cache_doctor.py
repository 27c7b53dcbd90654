"""The cache doctor: what happened to the prompt prefix on each request, and why.

chat-tui knows what it sent. For every request it keeps a :class:`Fingerprint`: one hash per
part of the prompt prefix (model, system instruction, each document block, each message, and
the thinking and tool settings), the cache breakpoints, when it was sent and how much of it the
provider holds in its cache afterwards. :func:`diagnose` compares a request with the previous
one to the same provider and host and classifies the outcome:

* ``hit``      the whole cacheable prefix was read, apart from the newly added turn
* ``partial``  part of the prefix was read and the rest written
* ``write``    nothing was read and something was written
* ``none``     nothing was read or written
* ``unknown``  the provider does not report cache figures (Ollama)

Anything but a hit gets a reason (:data:`MISS_REASONS`) and a one-line explanation. The
provider's own verdict (Anthropic's ``diagnostics.cache_miss_reason``), when there is one,
is shown beside the client's; where the two disagree, both are shown.

Pure: no I/O, no clocks; times are passed in (wall-clock seconds, so that a request from an
earlier run, read back from storage, compares with this one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from chat_tui.core.models import ModelInfo
from chat_tui.core.pricing import format_usd
from chat_tui.providers.events import CacheDiagnosis, ChatRequest, SystemBlock, Usage

CacheStatus = Literal["hit", "partial", "write", "none", "unknown"]
MISS_REASONS: tuple[str, ...] = (
    "first_use", "ttl_expired", "model_changed", "provider_changed", "document_changed",
    "system_changed", "messages_changed", "thinking_changed", "tools_changed", "below_minimum",
    "lookback_exceeded", "evicted", "unknown",
)  # fmt: skip
# A breakpoint finds an earlier cache entry at most this many content blocks back (Anthropic).
LOOKBACK_BLOCKS = 20
# Providers that round cached counts down (OpenAI: 128-token steps) read "all" a little short.
ROUNDING_TOKENS = 128
FINGERPRINT_VERSION = 1
# Server reason words that say nothing about the cache itself.
_SERVER_NON_VERDICTS = (
    "previous_message_not_found",
    "comparison_response_not_found",
    "unavailable",
)


def part_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _document_hash(block: SystemBlock) -> str:
    """A document block's text, and for a PDF its bytes or uploaded file id (either changes
    what Anthropic reads, and so the cached prefix)."""
    part = block.document
    if part is None or (part.data is None and part.file_id is None):
        return part_hash(block.text)
    digest = hashlib.sha256(block.text.encode("utf-8"))
    digest.update(b"\x00" + (part.data or b"") + b"\x00" + (part.file_id or "").encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    """What one request's prompt prefix was made of, and what the cache held after it.

    ``messages`` has one hash per message (content only: a moving cache mark does not change
    it), ``blocks`` the number of content blocks in each, ``marks`` the indices of the
    messages that carried a cache breakpoint. ``cached_tokens`` is filled in after the
    response: the prefix the provider holds from this request on (read + written; for
    servers that cache automatically without reporting writes, the whole prompt).
    """

    provider: str
    host: str
    model: str
    system: str
    documents: tuple[tuple[str, str], ...]
    messages: tuple[str, ...]
    blocks: tuple[int, ...]
    marks: tuple[int, ...]
    thinking: str | None = None
    tools: str | None = None
    sent_at: float = 0.0
    ttl_s: float = 300.0
    cached_tokens: int | None = None
    prompt_tokens: int | None = None
    response_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["v"] = FINGERPRINT_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint | None:
        """The fingerprint stored by :meth:`to_json`; None for one this version cannot read."""
        if data.get("v") != FINGERPRINT_VERSION:
            return None
        try:
            return cls(
                provider=str(data["provider"]), host=str(data["host"]), model=str(data["model"]),
                system=str(data["system"]),
                documents=tuple((str(n), str(h)) for n, h in data["documents"]),
                messages=tuple(str(h) for h in data["messages"]),
                blocks=tuple(int(b) for b in data["blocks"]),
                marks=tuple(int(m) for m in data["marks"]),
                thinking=data.get("thinking"), tools=data.get("tools"),
                sent_at=float(data["sent_at"]), ttl_s=float(data["ttl_s"]),
                cached_tokens=data.get("cached_tokens"), prompt_tokens=data.get("prompt_tokens"),
                response_id=data.get("response_id"),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


def settings_hash(value: object) -> str | None:
    """A stable hash of a settings value (thinking, tools); None when there is none."""
    if value is None:
        return None
    return part_hash(json.dumps(value, sort_keys=True, default=repr))


def fingerprint(
    request: ChatRequest,
    *,
    provider: str,
    host: str,
    sent_at: float,
    ttl_s: float,
    thinking: object = None,
    tools: object = None,
) -> Fingerprint:
    """The fingerprint of ``request`` as it is about to be sent."""
    system = [b.text for b in request.system if not b.label.startswith("document:")]
    documents = tuple(
        (b.label.removeprefix("document:"), _document_hash(b))
        for b in request.system
        if b.label.startswith("document:")
    )
    return Fingerprint(
        provider=provider,
        host=host,
        model=request.model,
        system=part_hash("\x00".join(system)),
        documents=documents,
        messages=tuple(part_hash(f"{m.role}\x00{m.parts!r}") for m in request.messages),
        blocks=tuple(max(1, len(m.parts)) for m in request.messages),
        marks=tuple(i for i, m in enumerate(request.messages) if m.cache),
        thinking=settings_hash(thinking),
        tools=settings_hash(tools),
        sent_at=sent_at,
        ttl_s=ttl_s,
    )


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one request's prompt cache. ``detail`` is the human line."""

    status: CacheStatus
    reason: str | None
    detail: str
    missed_tokens: int | None = None
    rewrite_usd: float | None = None  # what the miss cost over reading the same tokens
    server_reason: str | None = None
    server_missed_tokens: int | None = None
    assumed: bool = False  # the write was assumed: the server caches without reporting writes

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in MISS_REASONS:
            raise ValueError(f"unknown cache miss reason {self.reason!r}")

    @property
    def disagrees(self) -> bool:
        """True when the server gave a verdict and it is not the client's."""
        return (
            self.server_reason is not None
            and self.server_reason not in _SERVER_NON_VERDICTS
            and self.server_reason != self.reason
        )

    def line(self) -> str:
        """One line for the panel and the pane, e.g.
        ``miss: TTL expired (idle 6m 12s > 5m) · rewrite cost $0.011``."""
        if self.status == "hit":
            text = f"hit: {self.detail}"
        elif self.status == "unknown":
            text = self.detail
        else:
            text = f"{_STATUS_WORD[self.status]}: {self.detail}"
        if self.rewrite_usd:
            text += f" · rewrite cost {format_usd(self.rewrite_usd)}"
        if self.server_reason is not None:
            server = self.server_reason.replace("_", " ")
            if self.server_missed_tokens is not None:
                server += f", {self.server_missed_tokens:,} tokens"
            text += f" · server disagrees: {server}" if self.disagrees else f" · server: {server}"
        return text


_STATUS_WORD = {"partial": "partial miss", "write": "miss", "none": "not cached"}


@dataclass(frozen=True)
class Context:
    """What the diagnosis needs besides the two fingerprints."""

    reported: bool = True  # False: the provider never reports cache figures (Ollama)
    automatic: bool = False  # True: the server caches prefixes itself (OpenAI-compatible)
    info: ModelInfo | None = None
    ttl: str = "5m"  # the TTL this request asked for
    previous_any: Fingerprint | None = None  # the session's previous request, any provider
    server: CacheDiagnosis | None = None


def classify(
    usage: Usage,
    *,
    expected_read: int | None,
    automatic: bool,
    min_tokens: int | None,
    diverged: bool = False,
) -> tuple[CacheStatus, bool]:
    """The cache status of a response and whether its write is assumed (not reported).
    ``expected_read``: what the previous request left cached, when this one extends it;
    ``diverged``: this request does not extend the previous one, so a read is partial."""
    read, write = usage.cache_read_tokens, usage.cache_write_tokens
    if read is None and write is None:
        return "unknown", False
    r, w = read or 0, write or 0
    if r > 0:
        if diverged:
            return "partial", False
        if expected_read is not None:
            slack = max(ROUNDING_TOKENS if automatic else 0, expected_read // 100)
            return ("partial" if r + slack < expected_read else "hit"), False
        return ("partial" if w > r else "hit"), False
    if w > 0:
        return "write", False
    prompt = usage.prompt_tokens
    if write is None and prompt is not None and (min_tokens is None or prompt >= min_tokens):
        return "write", True  # cached automatically, not reported
    return "none", False


def comparable(prev: Fingerprint, cur: Fingerprint) -> bool:
    """True when ``cur`` extends ``prev``: same model, settings, system and documents, and
    ``prev``'s messages are a prefix of ``cur``'s. Only then can all of ``prev`` be read."""
    return (
        _first_change(prev, cur) is None
        and cur.messages[: len(prev.messages)] == prev.messages
        and len(cur.messages) >= len(prev.messages)
    )


def diagnose(cur: Fingerprint, prev: Fingerprint | None, usage: Usage, ctx: Context) -> Diagnosis:
    """Classify ``usage`` for request ``cur`` given ``prev``, the previous request to the same
    provider and host (None when there was none)."""
    info = ctx.info
    min_tokens = info.min_cache_tokens if info is not None else None
    within_ttl = prev is not None and cur.sent_at - prev.sent_at <= prev.ttl_s
    expected = None
    extends = prev is not None and comparable(prev, cur)
    if prev is not None and prev.cached_tokens and extends:
        expected = prev.cached_tokens if within_ttl else None
    status, assumed = classify(
        usage, expected_read=expected, automatic=ctx.automatic, min_tokens=min_tokens,
        diverged=prev is not None and not extends,
    )  # fmt: skip
    server = ctx.server

    def verdict(
        status: CacheStatus, reason: str | None, detail: str, missed: int | None = None
    ) -> Diagnosis:
        if missed is None and server is not None and server.reason not in _SERVER_NON_VERDICTS:
            missed = server.missed_tokens if status != "hit" else None
        return Diagnosis(
            status, reason, detail, missed,
            _rewrite_usd(missed, info, ctx.ttl, ctx.automatic),
            server_reason=server.reason if server else None,
            server_missed_tokens=server.missed_tokens if server else None,
            assumed=assumed,
        )  # fmt: skip

    read = usage.cache_read_tokens or 0
    if status == "unknown" or not ctx.reported:
        return verdict(
            "unknown", "unknown", "not reported: this provider does not report cache figures"
        )
    if status == "hit":
        return verdict("hit", None, f"read {read:,} tokens from the cache")
    prompt = usage.prompt_tokens
    reason, detail, missed = _reason(cur, prev, usage, ctx, expected, prompt, min_tokens)
    if assumed and reason == "first_use":
        detail = (
            f"first use: {prompt or 0:,} tokens, cached by the server (assumed: it caches "
            "automatically and does not report writes)"
        )
    return verdict(status, reason, detail, missed)


def _reason(
    cur: Fingerprint,
    prev: Fingerprint | None,
    usage: Usage,
    ctx: Context,
    expected: int | None,
    prompt: int | None,
    min_tokens: int | None,
) -> tuple[str, str, int | None]:
    """(reason, human detail, missed tokens or None)."""
    read = usage.cache_read_tokens or 0
    written = usage.cache_write_tokens or 0
    if prompt is not None and min_tokens is not None and prompt < min_tokens:
        model = cur.model
        return (
            "below_minimum",
            (
                f"the prompt ({prompt:,} tokens) is under {model}'s {min_tokens:,}-token minimum: "
                "it is never cached"
            ),
            None,
        )
    if prev is None:
        before = ctx.previous_any
        if before is not None and before.provider != cur.provider:
            return (
                "provider_changed",
                (
                    f"provider changed from {before.provider} to {cur.provider}: each provider "
                    f"keeps its own cache; writing {written or prompt or 0:,} tokens"
                ),
                None,
            )
        return "first_use", _first_use(written or prompt or 0, ctx), None
    change = _first_change(prev, cur)
    if change is not None:
        return change[0], change[1], None
    idle = cur.sent_at - prev.sent_at
    if idle > prev.ttl_s:
        missed = prev.cached_tokens if prev.cached_tokens and comparable(prev, cur) else None
        return (
            "ttl_expired",
            (f"TTL expired (idle {_duration(idle)} > {_duration(prev.ttl_s)})"),
            missed,
        )
    diverged = _divergence(prev.messages, cur.messages)
    if diverged is not None:
        return (
            "messages_changed",
            (
                f"the history diverged at message {diverged + 1} (a new conversation, a retry or "
                "a deletion): only the part before it can be read"
            ),
            None,
        )
    if cur.provider == "anthropic" and _lookback_exceeded(prev, cur):
        return (
            "lookback_exceeded",
            (
                f"more than {LOOKBACK_BLOCKS} content blocks since the last cache breakpoint: "
                "the cached prefix is out of reach"
            ),
            None,
        )
    if expected is not None and read < expected:
        return (
            "evicted",
            (
                f"evicted: the prefix was identical and {_duration(idle)} into its "
                f"{_duration(prev.ttl_s)} TTL, but the provider read {read:,} of {expected:,} tokens"
            ),
            expected - read,
        )
    return "unknown", "no cause found on the client side", None


def _first_use(tokens: int, ctx: Context) -> str:
    if ctx.automatic:
        return f"first use: the server caches {tokens:,} tokens automatically"
    factor = "2x" if ctx.ttl == "1h" else "1.25x"
    return f"first use: writing {tokens:,} tokens at {factor}"


def _first_change(prev: Fingerprint, cur: Fingerprint) -> tuple[str, str] | None:
    """The first prefix part that differs, in prefix order, as (reason, detail)."""
    if prev.model != cur.model:
        return "model_changed", (
            f"model changed from {prev.model} to {cur.model}: the cache key includes the model"
        )
    if prev.provider != cur.provider:
        return "provider_changed", f"provider changed from {prev.provider} to {cur.provider}"
    if prev.tools != cur.tools:
        return "tools_changed", "the tool set changed: tools come first in the cached prefix"
    if prev.thinking != cur.thinking:
        return "thinking_changed", (
            "the thinking setting changed: that invalidates the cached messages"
        )
    if prev.system != cur.system:
        return "system_changed", "the system instruction changed: everything after it is new"
    if prev.documents != cur.documents:
        return "document_changed", _document_change(prev.documents, cur.documents)
    return None


def _document_change(before: Sequence[tuple[str, str]], after: Sequence[tuple[str, str]]) -> str:
    old, new = dict(before), dict(after)
    changed = [n for n in new if n in old and old[n] != new[n]]
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    if changed:
        return f"document {changed[0]} changed: it and everything after it are written again"
    if added and not removed:
        return f"document {added[0]} added: the cached prefix now differs"
    if removed and not added:
        return f"document {removed[0]} removed: the cached prefix now differs"
    if added and removed:
        return f"document {removed[0]} replaced by {added[0]}"
    return "the documents were reordered: their order is part of the cached prefix"


def _divergence(before: Sequence[str], after: Sequence[str]) -> int | None:
    """The index of the first message of ``before`` that ``after`` does not repeat."""
    for i, digest in enumerate(before):
        if i >= len(after) or after[i] != digest:
            return i
    return None


def _lookback_exceeded(prev: Fingerprint, cur: Fingerprint) -> bool:
    """True when no breakpoint of ``cur`` lies within LOOKBACK_BLOCKS blocks after the end of
    the prefix ``prev`` cached, so the cache lookup never reaches it."""
    if not prev.messages or not cur.marks:
        return False
    starts = [0]
    for n in cur.blocks:
        starts.append(starts[-1] + n)
    cached_end = starts[len(prev.messages)] - 1  # the last block prev's prefix covered
    return not any(0 <= starts[m + 1] - 1 - cached_end <= LOOKBACK_BLOCKS for m in cur.marks)


def _rewrite_usd(
    missed: int | None, info: ModelInfo | None, ttl: str, automatic: bool
) -> float | None:
    """What writing ``missed`` tokens again cost over reading them."""
    if not missed or info is None or info.cache_read is None:
        return None
    write = info.input if automatic else info.cache_write_price(ttl)
    if write is None:
        return None
    return missed * (write - info.cache_read) / 1_000_000


def _duration(seconds: float) -> str:
    """``6m 12s``, ``5m``, ``1h``, ``42s``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h" + (f" {minutes}m" if minutes else "")
    if minutes:
        return f"{minutes}m" + (f" {secs:02d}s" if secs else "")
    return f"{secs}s"
