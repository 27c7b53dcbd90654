"""``chat-tui ask QUESTION``: answer one question headless.

Headless output pipes: the answer goes to stdout as it streams, warnings and the metrics
summary to stderr. Every failure is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from chat_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, ms, open_store
from chat_tui.cli.common import err as _err
from chat_tui.cli.thinking_out import ThinkingWriter, thinking_fields, thinking_summary
from chat_tui.errors import BudgetError

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.session import ChatSession, TurnResult


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", help="answer one question headless and exit",
                         description="Stream one answer to stdout; metrics go to stderr.")  # fmt: skip
    ask.add_argument("question", nargs="?", help="the question ('-' or omitted: read stdin)")
    add_common(ask)
    ask.add_argument("--json", action="store_true",
                     help="print the metrics as one JSON object on stderr")  # fmt: skip
    ask.add_argument("--no-save", action="store_true", help="do not store the conversation")
    ask.add_argument("--show-thinking", action="store_true",
                     help="stream the model's thinking to stderr (dim on a terminal)")  # fmt: skip
    ask.add_argument("--allow-tool", action="append", default=[], metavar="NAME",
                     help="let the model run this MCP tool (repeatable; '*' for every tool); "
                          "other calls are refused")  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_ask(args, settings))


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

    store = None if args.no_save else open_store(settings)
    session = ChatSession(
        settings, store=store, retry_hint="run the command again", budget_hint="--budget"
    )
    try:
        for path in args.doc or ():
            loaded = session.add_documents(path, upload=getattr(args, "upload", False))
            if loaded.summary:
                _err(f"chat-tui: {loaded.summary}")
        if session.documents:
            await session.count_document_tokens()
            for info in session.documents:
                for warning in info.warnings:
                    _err(f"warning: {warning}")
        out = sys.stdout

        def write(text: str) -> None:
            out.write(text)
            out.flush()

        thinking = ThinkingWriter(sys.stderr) if args.show_thinking else None
        tools = None
        if session.tools_enabled and session.tools.configured:
            from chat_tui.cli.tool_view import AskToolView

            await session.start_tools()
            for line in session.tools.failures():
                _err(f"warning: {line}")
            tools = AskToolView(args.allow_tool, session.tools)
        try:
            result = await session.ask(question, write, thinking.write if thinking else None, tools)
        except BudgetError as exc:
            _err(f"chat-tui ask: {exc}")
            return EXIT_FAILED
        if thinking is not None:
            thinking.end()
        for notice in [*session.docs.notices, *session.notices]:
            _err(f"warning: {notice}")
        answer = session.conversation.last.answer if session.conversation.last else ""
        if answer and not answer.endswith("\n"):
            write("\n")
        if result.stop_note:
            _err(f"chat-tui: {result.stop_note}")
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
    d = m.diagnosis
    state = session.cache_state()
    ttl_left = state.seconds_left if state.status in ("warm", "expiring") else None
    if result.error:
        _err(f"chat-tui: {result.error}")
    if args.json:
        payload = {
            "provider": m.provider,
            "model": m.model,
            "status": result.status,
            "ttft_ms": ms(m.ttft_s),
            "total_ms": ms(m.total_s),
            "tokens_per_s": None if m.tokens_per_s is None else round(m.tokens_per_s, 1),
            "input_tokens": u.input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "output_tokens": u.output_tokens,
            "output_estimated": u.output_estimated,
            **thinking_fields(m),
            "cost_usd": m.cost.usd,
            "uncached_cost_usd": m.cost.uncached_usd,
            "cache_ttl_s": None if ttl_left is None else round(ttl_left, 1),
            "cache_status": d.status if d else None,
            "cache_miss_reason": d.reason if d else None,
            "cache_miss_detail": d.line() if d and d.reason else None,
            "cache_missed_tokens": d.missed_tokens if d else None,
            "server_cache_miss_reason": d.server_reason if d else None,
            "error": result.error,
            "documents": [
                {
                    "name": i.document.name,
                    "kind": i.document.kind,
                    "tokens": i.tokens,
                    "tokens_estimated": not i.counted,
                    "pages": i.document.pages,
                }
                for i in session.documents
            ],
        }
        _err(json.dumps(payload))
        return

    def n(x: int | None) -> str:
        return "—" if x is None else f"{x:,}"

    out = f"{n(u.output_tokens)}{'~' if u.output_estimated else ''}"
    if m.thinking_tokens is not None:
        out += f" (thinking {m.thinking_tokens:,}{'~' if m.thinking_estimated else ''})"
    parts = [
        f"{m.provider}/{m.model}",
        f"first token {ms(m.ttft_s) if m.ttft_s is not None else '—'} ms",
        f"total {ms(m.total_s)} ms",
        f"in {n(u.input_tokens)} + write {n(u.cache_write_tokens)} + read {n(u.cache_read_tokens)}",
        f"out {out}",
        f"cost {format_usd(m.cost.usd)} (uncached {format_usd(m.cost.uncached_usd)})",
    ]
    parts[2:2] = thinking_summary(m)
    if ttl_left is not None:
        parts.append(f"cache {format_countdown(ttl_left)}")
    if d is not None and d.status != "unknown":
        parts.append(f"cache {d.line()}")
    _err(" · ".join(parts))
