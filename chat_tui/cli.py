"""The entry point: ``chat-tui`` opens the TUI; ``chat-tui ask QUESTION`` answers headless.

Headless output pipes: the answer goes to stdout as it streams, warnings and the metrics
summary to stderr. Every failure is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from chat_tui import __version__
from chat_tui.errors import ChatTuiError

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.session import ChatSession, TurnResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=["anthropic", "openai", "ollama"],
                        help="provider to use (default: the first configured)")  # fmt: skip
    parser.add_argument("--model", help="model name (default: the provider's configured model)")
    parser.add_argument("--base-url", help="base URL of the provider (OpenAI-compatible: with /v1)")
    parser.add_argument("--doc", metavar="FILE", help="reference document, sent as cached context")
    parser.add_argument("--ttl", choices=["5m", "1h"], help="cache lifetime of the document")
    parser.add_argument("--max-tokens", type=int, help="answer length limit")
    parser.add_argument("--read-timeout", type=float, metavar="S",
                        help="seconds without data before a stream counts as stalled")  # fmt: skip
    parser.add_argument("--data-dir", metavar="DIR", help="where conversations are stored")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-tui",
        description="A terminal chat client for LLMs: streaming, prompt caching, exact cost.",
    )
    parser.add_argument("--version", action="version", version=f"chat-tui {__version__}")
    _common(parser)
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="resume the last conversation")  # fmt: skip
    sub = parser.add_subparsers(dest="command")
    ask = sub.add_parser("ask", help="answer one question headless and exit",
                         description="Stream one answer to stdout; metrics go to stderr.")  # fmt: skip
    ask.add_argument("question", nargs="?", help="the question ('-' or omitted: read stdin)")
    _common(ask)
    ask.add_argument("--json", action="store_true",
                     help="print the metrics as one JSON object on stderr")  # fmt: skip
    ask.add_argument("--no-save", action="store_true", help="do not store the conversation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from chat_tui.config import load_settings

        settings = load_settings(_flags(args))
        if args.command == "ask":
            return asyncio.run(_ask(args, settings))
        return _run_tui(args, settings)
    except ChatTuiError as exc:
        _err(f"chat-tui: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("\nchat-tui: interrupted; the partial answer is saved as stopped")
        return EXIT_INTERRUPTED


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ("provider", "model", "base_url", "ttl", "max_tokens", "read_timeout", "data_dir")
    return {name: getattr(args, name, None) for name in names}


def _err(line: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    out.write(line.rstrip("\n") + "\n")
    out.flush()


def _run_tui(args: argparse.Namespace, settings: Settings) -> int:
    from chat_tui.ui.app import make_app

    app = make_app(settings, doc=args.doc, resume=args.resume)
    app.run()
    return int(app.return_code or 0)


# -- headless --------------------------------------------------------------------------


def _open_store(settings: Settings) -> Any:
    from chat_tui.core.storage import Store

    return Store.open(settings.data_dir / "chat-tui.db")


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from chat_tui.core.session import ChatSession

    question = args.question
    if question in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            _err('chat-tui ask: no question: pass one, e.g. chat-tui ask "What is SSE?"')
            return EXIT_USAGE
        question = sys.stdin.read()
    if not question.strip():
        _err("chat-tui ask: the question is empty: pass some text to ask")
        return EXIT_USAGE

    store = None if args.no_save else _open_store(settings)
    session = ChatSession(settings, store=store, retry_hint="run the command again")
    try:
        if args.doc:
            info = session.load_document(args.doc)
            await session.count_document_tokens()
            for warning in info.warnings:
                _err(f"warning: {warning}")
        out = sys.stdout

        def write(text: str) -> None:
            out.write(text)
            out.flush()

        result = await session.ask(question, write)
        answer = session.conversation.last.answer if session.conversation.last else ""
        if answer and not answer.endswith("\n"):
            write("\n")
        _report(args, session, result)
        return EXIT_OK if result.status == "complete" else EXIT_FAILED
    finally:
        await session.aclose()
        if store is not None:
            store.close()


def _report(args: argparse.Namespace, session: ChatSession, result: TurnResult) -> None:
    from chat_tui.core.metrics import format_countdown
    from chat_tui.core.pricing import format_usd

    m = result.metrics
    u = m.usage
    state = session.cache_state()
    ttl_left = state.seconds_left if state.status in ("warm", "expiring") else None
    if result.error:
        _err(f"chat-tui: {result.error}")
    if args.json:
        payload = {
            "provider": m.provider,
            "model": m.model,
            "status": result.status,
            "ttft_ms": _ms(m.ttft_s),
            "total_ms": _ms(m.total_s),
            "tokens_per_s": None if m.tokens_per_s is None else round(m.tokens_per_s, 1),
            "input_tokens": u.input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "output_tokens": u.output_tokens,
            "output_estimated": u.output_estimated,
            "cost_usd": m.cost.usd,
            "uncached_cost_usd": m.cost.uncached_usd,
            "cache_ttl_s": None if ttl_left is None else round(ttl_left, 1),
            "error": result.error,
        }
        _err(json.dumps(payload))
        return

    def n(x: int | None) -> str:
        return "—" if x is None else f"{x:,}"

    out = f"{n(u.output_tokens)}{'~' if u.output_estimated else ''}"
    parts = [
        f"{m.provider}/{m.model}",
        f"first token {_ms(m.ttft_s) if m.ttft_s is not None else '—'} ms",
        f"total {_ms(m.total_s)} ms",
        f"in {n(u.input_tokens)} + write {n(u.cache_write_tokens)} + read {n(u.cache_read_tokens)}",
        f"out {out}",
        f"cost {format_usd(m.cost.usd)} (uncached {format_usd(m.cost.uncached_usd)})",
    ]
    if ttl_left is not None:
        parts.append(f"cache {format_countdown(ttl_left)}")
    _err(" · ".join(parts))


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
