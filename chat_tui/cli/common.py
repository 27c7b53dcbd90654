"""What every command shares: exit codes, the common flags, one-line errors, the store."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.storage import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

FLAG_NAMES = (
    "provider", "model", "base_url", "ttl", "max_tokens", "read_timeout", "data_dir", "budget",
    "keep_warm", "api", "retention", "thinking", "thinking_budget", "no_tools",
)  # fmt: skip


def add_common(parser: argparse.ArgumentParser, *, command: bool = True) -> None:
    """The provider and document flags, on the top-level parser (``command=False``) and on
    each command. On a command they default to "absent", so a flag given before the command
    name (``chat-tui --data-dir D ask …``) is not reset by the command's own default."""
    default = argparse.SUPPRESS if command else None
    add = partial(parser.add_argument, default=default)
    add("--provider", choices=["anthropic", "openai", "ollama"],
        help="provider to use (default: the first configured)")  # fmt: skip
    add("--model", help="model name (default: the provider's configured model)")
    add("--base-url", help="base URL of the provider (OpenAI-compatible: with /v1)")
    add("--doc", metavar="PATH", action="append",
        help="reference document: a text file, a PDF or a folder, sent as cached context "
        "(repeatable)")  # fmt: skip
    add("--upload", action="store_true",
        help="Anthropic: send the documents through the Files API (uploaded once, reused)")  # fmt: skip
    add("--ttl", choices=["5m", "1h"], help="cache lifetime of the document")
    add("--api", choices=["responses", "chat"],
        help="OpenAI protocol (default: responses for api.openai.com)")  # fmt: skip
    add("--retention", choices=["in_memory", "24h", "30m", "12h"],
        help="how long OpenAI keeps the prompt cache (Responses API)")  # fmt: skip
    add("--max-tokens", type=int, help="answer length limit")
    add("--read-timeout", type=float, metavar="S",
        help="seconds without data before a stream counts as stalled")  # fmt: skip
    add("--data-dir", metavar="DIR", help="where conversations are stored")
    add("--budget", type=float, metavar="USD",
        help="spending cap: refuse a request that could pass it")  # fmt: skip
    add("--thinking", choices=["off", "on", "low", "medium", "high"],
        help="let the model think first: on, or an effort (default: off)")  # fmt: skip
    add("--thinking-budget", type=int, metavar="TOKENS",
        help="thinking budget in tokens, for models that take one (>= 1024; "
             "implies --thinking on)")  # fmt: skip
    add("--no-tools", action="store_true",
        help="offer no MCP tools to the model (and start no MCP server)")  # fmt: skip


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings-relevant flags of a parsed command line (absent ones are None)."""
    return {name: getattr(args, name, None) for name in FLAG_NAMES}


def err(line: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    out.write(line.rstrip("\n") + "\n")
    out.flush()


def open_store(settings: Settings) -> Store:
    from chat_tui.core.storage import Store

    return Store.open(settings.data_dir / "chat-tui.db")


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
