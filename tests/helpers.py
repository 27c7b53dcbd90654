"""Small helpers shared by the tests that drive the session or the app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chat_tui.config import Settings
from tests.loopback import LoopbackServer


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def loopback_settings(server: LoopbackServer, **changes: Any) -> Settings:
    """Every provider configured against the loopback server, with fake keys, no retries."""
    base = Settings(
        anthropic_api_key="sk-ant-test-SECRET-KEY",
        anthropic_base_url=server.base_url,
        openai_api_key="sk-openai-test-SECRET-KEY",
        openai_base_url=server.openai_base_url,
        ollama_host=server.base_url,
        max_retries=0,
        read_timeout=5,
    )
    return replace(base, **changes)
