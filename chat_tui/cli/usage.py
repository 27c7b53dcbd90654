"""``chat-tui usage``: the stored requests' tokens, cache hit rate, latency and cost, grouped.

Costs are recomputed from the stored token counts with today's prices; ``--as-billed`` shows
the figures stored when each request ran. The table goes to stdout (``--json``/``--csv`` for
machines); a note about requests with no known price goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from chat_tui.cli.common import EXIT_OK, EXIT_USAGE, err, open_store

if TYPE_CHECKING:
    from chat_tui.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    usage = sub.add_parser(
        "usage",
        help="tokens, cache hit rate, latency and cost of past requests",
        description="Tokens, cache hit rate, first-token latency and cost of the stored "
        "requests, grouped; costs use today's prices unless --as-billed.",
    )
    usage.add_argument("--since", metavar="WHEN",
                       help="7d, 12h, 2w, today, or a date such as 2026-11-01 (default: all)")  # fmt: skip
    usage.add_argument("--by", choices=["day", "model", "provider", "conversation"],
                       default="day", help="one row per ... (default: day)")  # fmt: skip
    fmt = usage.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one line per row")
    usage.add_argument("--as-billed", action="store_true",
                       help="the costs stored when each request ran, not today's prices")  # fmt: skip
    # SUPPRESS: a --data-dir given before the command name is not reset to None.
    usage.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                       help="where conversations are stored")  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    from chat_tui.core.usage import SinceError, build_report, parse_since

    try:
        since = None if args.since is None else parse_since(args.since)
    except SinceError as exc:
        err(f"chat-tui usage: {exc}")
        return EXIT_USAGE
    store = open_store(settings)
    try:
        rows = store.usage_rows(since)
    finally:
        store.close()
    report = build_report(
        rows, args.by, overrides=settings.model_overrides, as_billed=args.as_billed, since=since
    )
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    elif args.csv:
        from chat_tui.core.usage_table import usage_csv

        sys.stdout.write(usage_csv(report))
    else:
        from rich.console import Console

        from chat_tui.core.usage_table import usage_table

        console = Console()
        if not report.groups:
            console.print(f"No requests recorded{'' if since is None else ' in that period'}.")
        else:
            table = usage_table(report)
            if not console.is_terminal:  # piped: the whole table, never cut to 80 columns
                wide = console.options.update_width(10_000)
                console.width = console.measure(table, options=wide).maximum
            console.print(table)
    note = report.unpriced_note()
    if note:
        err(f"note: {note}")
    return EXIT_OK
