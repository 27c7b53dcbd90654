"""``chat-tui cost``: the production abacus, headless. What a prompt costs a month at N requests
a minute on a model, uncached and with caching (reads plus the re-writes the TTL forces at that
rate), and the saving. The same figures as the TUI's projection view.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from chat_tui.cli.common import EXIT_OK, EXIT_USAGE, add_common, err

if TYPE_CHECKING:
    from chat_tui.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cost = sub.add_parser(
        "cost", help="project the monthly bill of a prompt, cached and uncached",
        description="What a prompt costs a month at production traffic, with caching and "
        "without. Give the prompt as a document (--doc) or a token count (--prompt-tokens).",
    )  # fmt: skip
    add_common(cost)
    cost.add_argument("--prompt-tokens", type=int, metavar="N",
                      help="prompt length in tokens (instead of --doc)")  # fmt: skip
    cost.add_argument("--cached-tokens", type=int, metavar="N",
                      help="how much of the prompt is a cacheable prefix (default: all of it)")  # fmt: skip
    cost.add_argument("--output-tokens", type=int, default=0, metavar="N",
                      help="answer tokens per request (default 0: prompt cost only)")  # fmt: skip
    cost.add_argument("--rpm", type=float, default=1000, metavar="R",
                      help="requests per minute (default 1000)")  # fmt: skip
    cost.add_argument("--hours", type=float, default=24, metavar="H",
                      help="hours of traffic a day (default 24)")  # fmt: skip
    cost.add_argument("--days", type=float, default=30, metavar="D",
                      help="days in the month (default 30)")  # fmt: skip
    cost.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from chat_tui.core.advisor import project
    from chat_tui.core.document_set import estimate_document_tokens, load_path
    from chat_tui.core.documents import estimate_tokens
    from chat_tui.core.models import lookup_model
    from chat_tui.providers.base import PROVIDER_KINDS

    if (args.doc is None) == (args.prompt_tokens is None):
        err("chat-tui cost: give the prompt as --doc FILE or --prompt-tokens N (one of them)")
        return EXIT_USAGE
    for name in ("prompt_tokens", "cached_tokens", "output_tokens"):
        value = getattr(args, name)
        if value is not None and value < 0:
            err(f"chat-tui cost: --{name.replace('_', '-')} must not be negative")
            return EXIT_USAGE
    kind = settings.default_provider()
    if args.provider is None and args.model:  # the provider whose price table knows the model
        kind = next(
            (k for k in PROVIDER_KINDS if lookup_model(k, args.model, settings.model_overrides)),
            kind,
        )
    model = args.model or settings.models[kind]
    estimated = False
    if args.doc is not None:
        prompt = estimate_tokens(settings.system_prompt)
        for path in args.doc:
            loaded = load_path(path, max_bytes=settings.document_max_bytes,
                               max_files=settings.document_max_files)  # fmt: skip
            prompt += sum(estimate_document_tokens(d, kind) for d in loaded.documents)
        estimated = True
    else:
        prompt = args.prompt_tokens
    cached = prompt if args.cached_tokens is None else min(args.cached_tokens, prompt)
    info = lookup_model(kind, model, settings.model_overrides)
    try:
        p = project(
            info, model=model, prompt_tokens=prompt, cached_tokens=cached,
            output_tokens=args.output_tokens, rpm=args.rpm, hours_per_day=args.hours,
            days=args.days, ttl=settings.cache_ttl,
        )  # fmt: skip
    except ValueError as exc:
        err(f"chat-tui cost: {exc}")
        return EXIT_USAGE
    if args.json:
        print(json.dumps({**p.as_dict(), "provider": kind, "estimated": estimated}))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Monthly cost · {kind}", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column()
    for label, value in p.rows():
        if label == "prompt" and estimated:
            value = "~" + value
        table.add_row(label, value)
    console = Console(file=sys.stdout)
    console.print(table)
    if info is None:
        err(f"warning: {model}'s price is unknown: add it under [models] in the config file")
    elif p.below_minimum:
        err(f"warning: the prompt is under {model}'s {info.min_cache_tokens:,}-token cache "
            "minimum: it is never cached")  # fmt: skip
    return EXIT_OK
