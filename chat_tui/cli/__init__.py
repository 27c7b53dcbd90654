"""The entry point: ``chat-tui`` opens the TUI; each sub-command lives in its own module.

Every command module has ``register(subparsers)`` (its arguments) and ``run(args, settings)``
(returns the exit status); this package only builds the parser and dispatches. Modules are
imported when their command runs, never at start-up of another command.

Every failure is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from chat_tui import __version__
from chat_tui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_common,
    err,
    flags_of,
)
from chat_tui.errors import ChatTuiError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# Command name → module under chat_tui.cli. Add a command by adding its module here.
COMMANDS: dict[str, str] = {
    "ask": "ask", "batch": "batch", "cost": "cost", "files": "files", "usage": "usage",
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-tui",
        description="A terminal chat client for LLMs: streaming, prompt caching, exact cost.",
    )
    parser.add_argument("--version", action="version", version=f"chat-tui {__version__}")
    add_common(parser, command=False)
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="resume the last conversation")  # fmt: skip
    parser.add_argument("--keep-warm", action="store_true",
                        help="while idle, re-read the cached prompt before its TTL runs out")  # fmt: skip
    sub = parser.add_subparsers(dest="command")
    for module in COMMANDS.values():
        _module(module).register(sub)
    return parser


def _module(name: str) -> Any:
    return importlib.import_module(f"chat_tui.cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    # The start imports and builds tens of thousands of objects that all stay alive (Textual,
    # the tables, the first screen); the cycle collector scanning them again and again cost
    # ~100 ms of CPU before the first frame (benchmarks/README.md). It is paused for the start:
    # a command resumes it before its work, the TUI once its first screen is drawn (the chat
    # screen's warm-up freezes what the start built, then resumes it), and always on return.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from chat_tui.config import load_settings

        settings = load_settings(flags_of(args))
        if args.command:
            gc.enable()
            return int(_module(COMMANDS[args.command]).run(args, settings))
        return _run_tui(args, settings)
    except ChatTuiError as exc:
        err(f"chat-tui: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("\nchat-tui: interrupted; the partial answer is saved as stopped")
        return EXIT_INTERRUPTED


def _run_tui(args: argparse.Namespace, settings: Any) -> int:
    from chat_tui.ui.app import make_app

    app = make_app(settings, doc=args.doc, resume=args.resume,
                   upload=bool(getattr(args, "upload", False)))  # fmt: skip
    app.run()
    return int(app.return_code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
