"""Shared fixtures. Every test runs in an isolated environment: no real API keys or base URLs,
config/data/state directories under tmp_path, and tmp_path as the working directory (so a
``.env`` in the repository is never read)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

# Variables that would point the app or the SDKs at real accounts, servers or files.
_SCRUBBED_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OLLAMA_HOST",
    "CHAT_TUI_CONFIG",
    "CHAT_TUI_PROVIDER",
    "CHAT_TUI_CACHE_TTL",
    "CHAT_TUI_TELEMETRY",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "CHAT_TUI_CACHE_RETENTION",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in ("config", "data", "state"):  # not created: a fresh install has none of them
        monkeypatch.setenv(f"CHAT_TUI_{name.upper()}_DIR", str(tmp_path / name))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A started loopback server speaking the Anthropic and OpenAI streaming protocols."""
    with LoopbackServer() as server:
        yield server
