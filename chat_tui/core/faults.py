"""Turn a provider's typed error into the one line a user reads: what happened, what to do."""

from __future__ import annotations

from urllib.parse import urlsplit

from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import ErrorKind, ProviderError


def host_of(url: str | None) -> str:
    if not url:
        return "the server"
    parts = urlsplit(url)
    return parts.netloc or url


def describe(
    err: ProviderError,
    provider: ProviderSettings,
    *,
    received_tokens: int = 0,
    retry_hint: str = "press ctrl+r to retry",
) -> str:
    name = provider.label
    host = host_of(provider.base_url)
    key = provider.key_env or "the API key"
    detail = f" ({err.message})" if err.message else ""
    match err.kind:
        case ErrorKind.NO_KEY:
            return f"No {name} API key: set {key} in your environment or in .env"
        case ErrorKind.CONNECTION:
            if provider.kind == "ollama":
                return (
                    f"Cannot reach {host}: is Ollama running (ollama serve)? "
                    "Check OLLAMA_HOST; then " + retry_hint
                )
            var = "ANTHROPIC_BASE_URL" if provider.kind == "anthropic" else "OPENAI_BASE_URL"
            return f"Cannot reach {host}: check your network or {var}; then {retry_hint}"
        case ErrorKind.AUTH:
            status = f" ({err.status})" if err.status else ""
            if provider.kind == "ollama":
                return f"{host} refused the request{status}: check the server's auth settings"
            return f"{name} rejected the key{status}: set a valid {key}"
        case ErrorKind.RATE_LIMITED:
            wait = f"retry in {_seconds(err.retry_after)}" if err.retry_after else "retry shortly"
            return f"Rate limited by {name}: {wait} ({retry_hint})"
        case ErrorKind.OVERLOADED if not err.mid_stream:
            wait = f"retry in {_seconds(err.retry_after)}" if err.retry_after else "retry shortly"
            return f"{name} is overloaded: {wait} ({retry_hint})"
        case ErrorKind.BAD_REQUEST:
            return f"{name} refused the request{_short(detail)}: check the model and prompt"
        case ErrorKind.TIMEOUT if received_tokens == 0 and not err.mid_stream:
            return (
                f"No data from {host} for {provider.read_timeout:g} s: "
                f"{retry_hint}, or raise read_timeout"
            )
        case ErrorKind.TIMEOUT:
            return (
                f"No data from {host} for {provider.read_timeout:g} s after "
                f"{_tokens(received_tokens)}: partial answer kept; {retry_hint}"
            )
        case ErrorKind.OVERLOADED:
            return (
                f"{name} was overloaded mid-answer after {_tokens(received_tokens)}: "
                f"partial answer kept; {retry_hint}"
            )
        case ErrorKind.STREAM_BROKEN:
            return (
                f"The {name} stream broke after {_tokens(received_tokens)}: "
                f"partial answer kept; {retry_hint}"
            )
        case ErrorKind.SERVER:
            status = f" {err.status}" if err.status else ""
            return f"{name} server error{status}{_short(detail)}: {retry_hint}"
        case _:
            return f"{name} request failed{_short(detail)}: {retry_hint}"


def _seconds(value: float | None) -> str:
    return f"{max(1, round(value or 0))} s"


def _tokens(n: int) -> str:
    return "1 token" if n == 1 else f"{n:,} tokens"


def _short(detail: str, limit: int = 140) -> str:
    """`` (message)`` on one line, at most ``limit`` characters."""
    line = " " + " ".join(detail.split()) if detail else ""
    return line if len(line) <= limit else line[: limit - 2] + "…)"
