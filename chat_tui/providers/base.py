"""The provider interface and its settings. Provider SDKs are imported lazily, inside
the modules that need them, so that importing this module costs nothing."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # the events module is most of the core's start-up cost: not needed here
    from chat_tui.providers.events import ChatRequest, ProviderEvent

ProviderKind = Literal["anthropic", "openai", "ollama"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("anthropic", "openai", "ollama")
# Which OpenAI API to speak; None: Responses for api.openai.com, Chat Completions elsewhere.
OpenAIApi = Literal["responses", "chat"]
# How long OpenAI keeps the prompt cache; None: nothing sent (the server's default applies).
# "in_memory" / "24h": prompt_cache_retention (a maximum); "30m" / "12h":
# prompt_cache_options.ttl (a minimum, gpt-5.6 and later).
CacheRetention = Literal["in_memory", "24h", "30m", "12h"]
CACHE_RETENTIONS: tuple[CacheRetention, ...] = ("in_memory", "24h", "30m", "12h")

# A task that sets REQUEST_SENT is called, once per request its providers send, when the
# request's body has been written to the socket. The chat screen mounts a new question's
# messages then: mounted at Enter, they ran inside the SDK's write, between the headers and the
# body, and held the request back by the mount's cost (benchmarks/README.md, "Enter → request").
REQUEST_SENT: ContextVar[Callable[[], None] | None] = ContextVar("request_sent", default=None)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Everything needed to talk to one provider. ``api_key`` is a secret: never print it.

    ``base_url`` is what the SDK is given: for Anthropic without ``/v1``, for OpenAI-compatible
    servers with it. ``key_env`` names the variable the user sets, for error messages.
    """

    kind: ProviderKind
    model: str
    base_url: str | None = None
    api_key: str | None = None
    key_env: str | None = None
    read_timeout: float = 60.0
    connect_timeout: float = 10.0
    max_retries: int = 2
    api: OpenAIApi | None = None
    cache_retention: CacheRetention | None = None

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else "unset"
        return (
            f"ProviderSettings(kind={self.kind!r}, model={self.model!r}, "
            f"base_url={self.base_url!r}, api_key=<{key}>)"
        )

    __str__ = __repr__

    @property
    def label(self) -> str:
        return {"anthropic": "Anthropic", "openai": "OpenAI", "ollama": "Ollama"}[self.kind]


class Provider(Protocol):
    settings: ProviderSettings

    def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Stream one response. Ends with exactly one Stop or ProviderError; never raises
        for provider or network faults. Closing the iterator early (``aclose``) closes the
        HTTP stream at once, which is how "stop generation" stops billing."""
        ...

    def prepare(self) -> None:
        """Build the HTTP client now (blocking: imports, TLS set-up); call from a thread."""
        ...

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """The prompt's token count from the provider, or None where it has no such API
        or the call failed."""
        ...

    async def aclose(self) -> None: ...


def make_provider(settings: ProviderSettings) -> Provider:
    """Build the provider for ``settings``. The SDK is imported here, not at module import."""
    if settings.kind == "anthropic":
        from chat_tui.providers.anthropic import AnthropicProvider

        return AnthropicProvider(settings)
    from chat_tui.providers.openai_responses import OpenAIResponsesProvider, uses_responses_api

    if uses_responses_api(settings):
        return OpenAIResponsesProvider(settings)
    from chat_tui.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider(settings)


def preload_sdk(kind: ProviderKind) -> None:
    """Import the provider's SDK (a second or more). Call it from a worker thread once the UI
    is up, so the first question does not pay for it."""
    if kind == "anthropic":
        from chat_tui.providers import anthropic

        anthropic.preload_sdk()
    else:
        from chat_tui.providers import openai_compat

        openai_compat.preload_sdk()
