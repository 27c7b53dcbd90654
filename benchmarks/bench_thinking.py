"""Thinking, then the answer: does drawing the reasoning slow the answer down?

    python benchmarks/bench_thinking.py            # full run
    python benchmarks/bench_thinking.py --quick

A real Textual app, headless (120x45), with the pane holding a few finished turns. Each run
streams 2,000 reasoning tokens at 1,000 tokens/s into a turn's thinking block (the live
"thinking… 4.2 s" header ticking), then a 3,000-token Markdown answer at 1,000 tokens/s, as a
provider stream does through ``TurnView``; the block folds when the answer starts. The same
answer is streamed again without thinking, as the baseline. Measured for the answer's tokens:

* lag: ``append`` → on screen (after the refresh that follows the flush that drew it), p50/p95;
* end: the last token appended → on screen;
* fold: the first answer token appended → on screen (the block folds in the same frame);
* CPU while streaming the answer (100 % = one core).

Targets are the render benchmark's: the answer behind a folded thinking block must stream as
the plain answer does (p95 lag within 1.5x of the baseline, end under 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_pane import (
    BenchApp,
    instrument,
    lags_from,
    markdown_answer,
    pct,
    split_tokens,
)
from benchmarks.common import Figure, Options
from chat_tui.ui.widgets.message_pane import MessagePane
from chat_tui.ui.widgets.thinking_block import TurnView

NAME = "thinking"
RATE = 1000.0


async def paced(feed: list[str], sink: list[float], put: Callable[[str], None]) -> None:
    """Call ``put(token)`` for each token at RATE tokens/s; note when each went in."""
    start = time.perf_counter()
    i = 0
    while i < len(feed):
        due = min(len(feed), int((time.perf_counter() - start) * RATE) + 1)
        while i < due:
            put(feed[i])
            sink.append(time.perf_counter())
            i += 1
        await asyncio.sleep(max(0.0, start + i / RATE - time.perf_counter()))


async def one_turn(app: BenchApp, thinking: list[str], answer: list[str]) -> dict[str, float]:
    pane = app.query_one(MessagePane)
    pane.add_user("A hard question?")
    message = pane.start_assistant()
    view = TurnView(pane, message)
    await asyncio.sleep(0.2)
    if thinking:
        await paced(thinking, [], view.thinking)
    screen: list[tuple[int, float]] = []
    instrument(message, screen)
    appended: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await paced(answer, appended, view.text)
    last = time.perf_counter()
    message.flush()
    done = asyncio.Event()
    message.finish("complete")
    view.end()
    message.call_after_refresh(done.set)
    await done.wait()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    lags = sorted(lags_from(appended, screen))
    if view.block is not None and not view.block.folded:
        raise RuntimeError("the thinking block did not fold when the answer started")
    return {
        "p50": pct(lags, 50) * 1000,
        "p95": pct(lags, 95) * 1000,
        "end": (wall1 - last) * 1000,
        "fold": lags_from(appended[:1], screen[:1])[0] * 1000 if screen else float("nan"),
        "cpu": 100 * (cpu1 - cpu0) / (wall1 - wall0),
    }


async def measure(quick: bool, with_thinking: bool) -> dict[str, float]:
    """One turn in a fresh app (the same history each time), with or without thinking."""
    n_think, n_answer = (800, 1500) if quick else (2000, 3000)
    thinking = split_tokens(markdown_answer(n_think, seed=3), n_think) if with_thinking else []
    answer = split_tokens(markdown_answer(n_answer, seed=4), n_answer)
    app = BenchApp()
    async with app.run_test(headless=True, size=(120, 45)) as pilot:
        pane = app.query_one(MessagePane)
        for i in range(6):
            pane.add_user(f"Earlier question {i}")
            pane.add_assistant(markdown_answer(200, seed=100 + i))
        await pilot.pause(0.5)
        return await one_turn(app, thinking, answer)


def run(opts: Options) -> list[Figure]:
    f = {
        "p95": Figure(NAME, "answer after thinking: lag p95 / the plain answer's", "x",
                      target=1.5),
        "p50": Figure(NAME, "answer after thinking: lag sent → on screen p50", "ms"),
        "end": Figure(NAME, "answer after thinking: last token → on screen", "ms", target=300),
        "fold": Figure(NAME, "first answer token (block folds) → on screen", "ms", target=100),
        "cpu": Figure(NAME, "answer after thinking @ 1,000 tok/s: CPU", "%"),
    }  # fmt: skip
    for _ in range(opts.pick(3, 1)):
        plain = asyncio.run(measure(opts.quick, with_thinking=False))
        thought = asyncio.run(measure(opts.quick, with_thinking=True))
        f["p95"].values.append(thought["p95"] / max(plain["p95"], 1.0))
        f["p50"].values.append(thought["p50"])
        f["end"].values.append(thought["end"])
        f["fold"].values.append(thought["fold"])
        f["cpu"].values.append(thought["cpu"])
    return list(f.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    args = parser.parse_args()
    for figure in run(Options(quick=args.quick)):
        values = ", ".join(f"{v:.1f}" for v in figure.values)
        median = statistics.median(figure.values)
        target = f" (target ≤ {figure.target:g})" if figure.target is not None else ""
        print(f"{figure.name}: {median:.1f} {figure.unit}{target} [{values}]")


if __name__ == "__main__":
    main()
