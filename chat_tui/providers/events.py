"""Provider-neutral request and event types: the only vocabulary shared by providers and core.

A message is an ordered sequence of typed *parts*, as the providers' own wire formats are:
:class:`TextPart`, :class:`ThinkingPart` / :class:`RedactedThinkingPart` (kept byte-exact, to be
sent back), :class:`ToolUsePart`, :class:`ToolResultPart` and :class:`DocumentPart`. Each
provider module maps them both ways; storage keeps them as versioned JSON (``core/parts.py``).

A provider stream yields, in order: at most one :class:`ResponseInfo` and
:class:`CacheDiagnosis` at the start, zero or more :class:`TextDelta` and :class:`ThinkingDelta`
(live display), :class:`ToolCallStart` and :class:`ToolCallDelta` while a tool call forms,
a :class:`PartDone` for every finished non-text block that must be kept whole
(signed thinking, redacted thinking, a tool call), :class:`Usage` per report (a provider may
report twice: the later one wins, field by field), then exactly one terminal event,
:class:`Stop` or :class:`ProviderError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Role = Literal["user", "assistant"]
CacheTTL = Literal["5m", "1h"]
TTL_SECONDS: dict[str, int] = {"5m": 300, "1h": 3600}


@dataclass(frozen=True, slots=True)
class SystemBlock:
    """One block of system prompt. ``cache`` marks a cache breakpoint after this block.
    ``label`` says what the block is, for diagnostics: "" for the instruction,
    ``document:NAME`` for a reference document. ``document`` is that document as a part
    (text, PDF bytes or an uploaded file's id) for providers that take document blocks
    (Anthropic); the others read ``text`` (a PDF's extracted text, pages marked)."""

    text: str
    cache: bool = False
    label: str = ""
    document: DocumentPart | None = None


# -- message parts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """The model's reasoning. ``signature`` is the provider's seal over it (Anthropic), kept
    byte-exact with the text so the block can go back unchanged; empty when the provider gave
    none (OpenAI-compatible reasoning, which is never sent back)."""

    text: str
    signature: str = ""


@dataclass(frozen=True, slots=True)
class RedactedThinkingPart:
    """Reasoning the provider encrypted (Anthropic ``redacted_thinking``): opaque, sent back whole."""

    data: str


@dataclass(frozen=True, slots=True)
class ToolUsePart:
    """A tool call. ``arguments`` is the JSON text exactly as received; ``input`` the parsed
    object (``{}`` when the text was not a JSON object)."""

    id: str
    name: str
    arguments: str
    input: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A document given to the model: its ``text`` or ``data`` (bytes, e.g. a PDF), or the id
    of a file uploaded to the provider (``file_id``)."""

    name: str
    media_type: str
    text: str | None = None
    data: bytes | None = field(default=None, repr=False)
    file_id: str | None = None


Part = TextPart | ThinkingPart | RedactedThinkingPart | ToolUsePart | ToolResultPart | DocumentPart
THINKING_PARTS = (ThinkingPart, RedactedThinkingPart)


def parse_arguments(arguments: str) -> dict[str, Any] | None:
    """A tool call's arguments parsed at its end: the JSON object, ``{}`` for no text, None
    when the text is not a JSON object (the call then gets an error result, never a run)."""
    import json

    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parts_text(parts: tuple[Part, ...] | list[Part]) -> str:
    """The plain text of a message: its text parts joined (what search and export show)."""
    return "".join(p.text for p in parts if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message: an ordered sequence of parts. ``cache`` marks a cache
    breakpoint after this message. ``Message.of(role, text)`` builds a plain-text one."""

    role: Role
    parts: tuple[Part, ...]
    cache: bool = False

    @classmethod
    def of(cls, role: Role, text: str, *, cache: bool = False) -> Message:
        return cls(role, (TextPart(text),), cache)

    @property
    def text(self) -> str:
        return parts_text(self.parts)


# -- thinking --------------------------------------------------------------------------------

ThinkingMode = Literal["off", "on", "low", "medium", "high"]
THINKING_MODES: tuple[ThinkingMode, ...] = ("off", "on", "low", "medium", "high")
# How a model takes thinking: a token budget (Anthropic "enabled"), adaptive thinking with an
# effort (newer Anthropic models), a reasoning effort (OpenAI-compatible), or not at all.
ThinkingStyle = Literal["budget", "adaptive", "effort", "none"]
ThinkingDisplay = Literal["summarized", "omitted"]


@dataclass(frozen=True, slots=True)
class Thinking:
    """The thinking settings of one request, resolved for its model (``core/thinking.py``):
    the user's ``mode``, the ``budget`` in tokens (budget-style models), the ``style`` the model
    takes, and the ``display`` to ask for (None: the model's default is fine). Providers map it
    to their wire fields; :meth:`as_dict` is the stable form to hash (cache doctor)."""

    mode: ThinkingMode = "off"
    budget: int | None = None
    style: ThinkingStyle = "none"
    display: ThinkingDisplay | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off" and self.style != "none"

    @property
    def effort(self) -> str | None:
        """The effort word to send, or None for the model's default ("on")."""
        return self.mode if self.mode in ("low", "medium", "high") else None

    def as_dict(self) -> dict[str, Any]:
        """What changes the request: ``{"mode": "off"}`` when off, else every field."""
        if not self.enabled:
            return {"mode": "off"}
        return {"mode": self.mode, "budget": self.budget, "style": self.style,
                "display": self.display}  # fmt: skip


THINKING_OFF = Thinking()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its (provider-safe) ``name``, ``description`` and the JSON
    Schema of its input. Sent first in the request, so it belongs to the cached prefix."""

    name: str
    description: str
    input_schema: dict[str, Any] = field(compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        """The stable form to hash and to measure."""
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_schema}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    system: tuple[SystemBlock, ...]
    messages: tuple[Message, ...]
    max_tokens: int = 4096
    cache_ttl: CacheTTL = "5m"
    # Routing hint for servers that cache prefixes automatically (OpenAI's prompt_cache_key).
    cache_key: str | None = None
    # The provider's id of the previous response with the same cache key, for the providers'
    # own cache-miss diagnostics (Anthropic ``diagnostics.previous_message_id``).
    previous_response_id: str | None = None
    # The thinking settings, resolved for the model; ``thinking.as_dict()`` for hashing.
    thinking: Thinking = THINKING_OFF
    # The tools offered, in a stable order (the prefix caches depend on it).
    tools: tuple[ToolSpec, ...] = ()


def thinking_settings(request: ChatRequest) -> dict[str, Any]:
    """The thinking settings of ``request``, as a stable JSON-ready dict (what a cache
    fingerprint hashes: a change invalidates the cached message prefix)."""
    return request.thinking.as_dict()


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's reasoning: shown apart from the answer, billed as output."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A tool call begins (Anthropic ``content_block_start`` of type ``tool_use``; OpenAI a
    new index in ``delta.tool_calls``; Responses ``output_item.added`` of a function call).
    ``index`` ties it to its :class:`ToolCallDelta` pieces; the call ends with the
    :class:`PartDone` carrying its :class:`ToolUsePart`."""

    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call's arguments, as JSON text: partial, never parsed before the end."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class PartDone:
    """A finished content block to keep whole: a signed :class:`ThinkingPart` (its text is the
    whole block, replacing the deltas shown), a :class:`RedactedThinkingPart`, a
    :class:`ToolUsePart`. Text is not repeated here: it is the :class:`TextDelta` stream."""

    part: Part


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    """What the provider says about the response itself, once it starts: its id (kept for the
    next request's cache diagnostics) and the model that actually answered."""

    id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class CacheDiagnosis:
    """The provider's own reason for a cache miss (Anthropic ``diagnostics.cache_miss_reason``,
    OpenAI ``prompt_cache_diagnostics``). ``reason`` is the provider's type word, e.g.
    ``model_changed``; ``missed_tokens`` the input tokens it could not read, where it says."""

    reason: str
    missed_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reported them. ``None`` means *not reported*, never 0.

    ``input_tokens`` counts only the uncached part of the prompt; the whole prompt is
    ``input_tokens + cache_write_tokens + cache_read_tokens``.
    """

    input_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    cache_read_tokens: int | None = None
    output_tokens: int | None = None
    output_estimated: bool = False
    # The part of output_tokens spent thinking, where the provider reports it
    # (OpenAI ``completion_tokens_details.reasoning_tokens``).
    thinking_tokens: int | None = None
    raw: dict[str, Any] | None = field(default=None, compare=False)

    def merged(self, later: Usage) -> Usage:
        """Field-by-field merge: figures in ``later`` win where it reports them."""

        def pick(a: Any, b: Any) -> Any:
            return b if b is not None else a

        return Usage(
            input_tokens=pick(self.input_tokens, later.input_tokens),
            cache_write_tokens=pick(self.cache_write_tokens, later.cache_write_tokens),
            cache_write_5m_tokens=pick(self.cache_write_5m_tokens, later.cache_write_5m_tokens),
            cache_write_1h_tokens=pick(self.cache_write_1h_tokens, later.cache_write_1h_tokens),
            cache_read_tokens=pick(self.cache_read_tokens, later.cache_read_tokens),
            output_tokens=pick(self.output_tokens, later.output_tokens),
            output_estimated=later.output_estimated
            if later.output_tokens is not None
            else self.output_estimated,
            thinking_tokens=pick(self.thinking_tokens, later.thinking_tokens),
            raw={**(self.raw or {}), **(later.raw or {})} or None,
        )

    @property
    def prompt_tokens(self) -> int | None:
        """The whole prompt, or None when the uncached part is unknown."""
        if self.input_tokens is None:
            return None
        return self.input_tokens + (self.cache_write_tokens or 0) + (self.cache_read_tokens or 0)


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream ended normally. ``reason`` is normalised: end_turn, max_tokens, stop_sequence,
    refusal, tool_use, or the provider's own word when it is none of those."""

    reason: str


class ErrorKind(StrEnum):
    NO_KEY = "no_key"  # no credentials configured
    CONNECTION = "connection"  # refused, DNS failure, unreachable: nothing was received
    TIMEOUT = "timeout"  # no data for longer than the read timeout
    AUTH = "auth"  # 401 / 403
    RATE_LIMITED = "rate_limited"  # 429
    OVERLOADED = "overloaded"  # 529, or an overloaded_error event mid-stream
    BAD_REQUEST = "bad_request"  # 400, 404 (bad model), 413, 422: prompt too long, unknown model
    SERVER = "server"  # other 5xx
    STREAM_BROKEN = "stream_broken"  # the connection dropped, or an error event, mid-stream
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ProviderError:
    """A terminal failure. ``message`` is the provider's own text, shortened to one line.

    ``mid_stream`` is True when the failure came after the response started streaming.
    ``retry_after`` is the server's hint in seconds, when it gave one.
    """

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    mid_stream: bool = False


ProviderEvent = (
    TextDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | PartDone
    | ResponseInfo
    | CacheDiagnosis
    | Usage
    | Stop
    | ProviderError
)
