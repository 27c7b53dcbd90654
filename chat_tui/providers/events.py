"""Provider-neutral request and event types: the only vocabulary shared by providers and core.

A provider stream yields, in order: at most one :class:`ResponseInfo` and
:class:`CacheDiagnosis` at the start, zero or more :class:`TextDelta` and :class:`ThinkingDelta`,
:class:`Usage` per report (a provider may report twice: the later one wins, field by field),
then exactly one terminal event, :class:`Stop` or :class:`ProviderError`.
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
    ``document:NAME`` for a reference document."""

    text: str
    cache: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message. ``cache`` marks a cache breakpoint after this message."""

    role: Role
    text: str
    cache: bool = False


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


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's reasoning: shown apart from the answer, billed as output."""

    text: str


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
    TextDelta | ThinkingDelta | ResponseInfo | CacheDiagnosis | Usage | Stop | ProviderError
)
