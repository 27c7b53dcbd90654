"""Benchmark the message pane: streamed Markdown at 100 and 1,000 tokens/s, and all at once.

    python benchmarks/bench_pane.py            # full run (~1.5 min)
    python benchmarks/bench_pane.py --quick    # shorter answers, for iterating

Runs a real Textual app headless (120x45), feeding a generated Markdown answer (paragraphs,
lists, tables, fenced code, one very long paragraph, one very long code block; ~4 chars per
token) into ``MessagePane.start_assistant()`` from a task on the app's event loop, as the
provider stream does. The pane already holds ``--history`` finished turns (6), one of them
long.

Measured:
* CPU: ``time.process_time`` / wall while streaming (100 % = one core), overall and over the
  last 10 s (the end of a long answer is where per-token costs show);
* lag: for each token, from ``append`` to "on screen" = after the screen refresh that
  follows the flush which rendered it (``call_after_refresh``). The compositor update is
  turned into terminal output (``render_segments``) as in a real terminal, minus the write;
* end: last ``append`` (or ``finish``) to the final content on screen;
* ratio: mean lag of the last 1,000 tokens / mean lag of the first 1,000 (flat cost per token).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import RenderableType
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.screen import Screen

from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane

# fmt: off
WORDS = [
    "the", "model", "returns", "a", "stream", "of", "tokens", "and", "each", "one", "must",
    "reach", "the", "screen", "quickly", "while", "interface", "stays", "responsive", "cache",
    "latency", "throughput", "budget", "prompt", "context", "window", "function", "argument",
    "result", "value", "error", "retry", "request", "response", "buffer", "render", "layout",
]
# fmt: on


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 20))]
    if rng.random() < 0.3:
        words[rng.randrange(len(words))] = f"`{rng.choice(WORDS)}()`"
    if rng.random() < 0.2:
        words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def code_block(rng: random.Random, lines: int) -> str:
    body = []
    for i in range(lines):
        indent = "    " * rng.randint(0, 2)
        body.append(f"{indent}value_{i} = compute({rng.choice(WORDS)!r}, limit={i})  # step {i}")
    lang = rng.choice(["python", "python", "javascript", "bash"])
    return f"```{lang}\n" + "\n".join(body) + "\n```"


def table(rng: random.Random, rows: int) -> str:
    head = "| Name | Value | Notes |\n|------|------:|-------|"
    body = [
        f"| {rng.choice(WORDS)} | {rng.randint(1, 999)} | {sentence(rng)} |" for _ in range(rows)
    ]
    return "\n".join([head, *body])


def markdown_answer(tokens: int, seed: int = 7) -> str:
    """A Markdown answer of at least ``tokens`` * 4 characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    section = 0
    target = tokens * 4
    while sum(len(p) + 2 for p in parts) < target:
        section += 1
        parts.append(f"## Section {section}: {sentence(rng)[:40]}")
        parts.append(paragraph(rng, rng.randint(2, 5)))
        parts.append("\n".join(f"- {sentence(rng)}" for _ in range(rng.randint(3, 6))))
        if section == 2:
            parts.append(paragraph(rng, 120))  # one very long paragraph (~8,000 chars)
        if section == 3:
            parts.append(code_block(rng, 250))  # one very long code block
        parts.append(code_block(rng, rng.randint(6, 20)))
        if section % 2:
            parts.append(table(rng, rng.randint(4, 10)))
        parts.append("\n".join(f"{i}. {sentence(rng)}" for i in range(1, rng.randint(3, 5))))
    return "\n\n".join(parts)


def split_tokens(text: str, count: int) -> list[str]:
    """~4-character tokens (word pieces with their leading space), cut to ``count``."""
    pieces = re.findall(r"\s*[^\s]{1,4}|\s+", text)
    return pieces[:count]


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MessagePane()

    def _display(self, screen: Screen[object], renderable: RenderableType | None) -> None:
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(self.console)  # the work a real terminal update does
        super()._display(screen, renderable)


@dataclass
class Result:
    name: str
    tokens: int
    cpu: float = 0.0
    cpu_end: float = 0.0
    lags: list[float] = field(default_factory=list)
    end: float = 0.0
    flushes: int = 0

    def row(self) -> list[str]:
        lags = sorted(self.lags) or [0.0]
        first = statistics.mean(self.lags[:1000]) if self.lags else 0.0
        last = statistics.mean(self.lags[-1000:]) if self.lags else 0.0
        tail = sorted(self.lags[-1000:]) or [0.0]
        return [
            self.name,
            f"{self.tokens:,}",
            f"{self.cpu:.0%}" if self.cpu else "-",
            f"{self.cpu_end:.0%}" if self.cpu_end else "-",
            f"{pct(lags, 50) * 1000:.0f}",
            f"{pct(lags, 95) * 1000:.0f}",
            f"{pct(tail, 95) * 1000:.0f}",
            f"{lags[-1] * 1000:.0f}",
            f"{self.end * 1000:.0f}",
            f"{last / first:.2f}" if first else "-",
            str(self.flushes),
        ]


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def instrument(message: AssistantMessage, screen_times: list[tuple[int, float]]) -> None:
    """Record, for each flush, how many tokens it covered and when it reached the screen."""
    flush: Callable[[], None] = message.flush

    def timed_flush() -> None:
        covered = message.token_count
        flush()
        message.call_after_refresh(lambda: screen_times.append((covered, time.perf_counter())))

    message.flush = timed_flush  # type: ignore[method-assign]


def lags_from(appended: list[float], screen_times: list[tuple[int, float]]) -> list[float]:
    lags: list[float] = []
    done = 0
    for covered, shown in screen_times:
        while done < min(covered, len(appended)):
            lags.append(shown - appended[done])
            done += 1
    return lags


async def stream(app: BenchApp, name: str, tokens: list[str], rate: float | None) -> Result:
    pane = app.query_one(MessagePane)
    pane.add_user(f"Question for {name}?")
    message = pane.start_assistant()
    await asyncio.sleep(0.2)
    screen_times: list[tuple[int, float]] = []
    instrument(message, screen_times)
    appended: list[float] = []
    samples: list[tuple[float, float]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if rate is None:
        for token in tokens:
            message.append(token)
            appended.append(time.perf_counter())
    else:
        i = 0
        while i < len(tokens):
            now = time.perf_counter()
            due = min(len(tokens), int((now - wall0) * rate) + 1)
            while i < due:
                message.append(tokens[i])
                appended.append(time.perf_counter())
                i += 1
            if not samples or now - samples[-1][0] >= 1.0:
                samples.append((now, time.process_time()))
            await asyncio.sleep(max(0.0, wall0 + i / rate - time.perf_counter()))
    last_append = time.perf_counter()
    message.flush()  # what the timer would do next; covers the last tokens
    finished = asyncio.Event()
    message.finish("complete")
    message.call_after_refresh(finished.set)
    await finished.wait()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    result = Result(name, len(tokens), flushes=message.flush_count)
    result.cpu = (cpu1 - cpu0) / (wall1 - wall0)
    samples.append((wall1, cpu1))
    window = [s for s in samples if s[0] >= wall1 - 10.0]
    if rate is not None and len(window) >= 2 and wall1 - wall0 > 15:
        (w0, c0), (w1, c1) = window[0], window[-1]
        result.cpu_end = (c1 - c0) / (w1 - w0)
    result.lags = lags_from(appended, screen_times)
    result.end = wall1 - last_append
    if rate is None:
        result.lags = [wall1 - appended[0]]
    return result


async def history(app: BenchApp, turns: int) -> tuple[float, float]:
    """Open a conversation of ``turns`` saved turns: time to first screen, then time to
    jump to its top (the answers there render when first shown)."""
    pane = app.query_one(MessagePane)
    await pane.clear_messages()
    answers = [markdown_answer(150, seed=i) for i in range(8)]
    t0 = time.perf_counter()
    for i in range(turns):
        pane.add_user(f"Question {i}: {sentence(random.Random(i))}")
        pane.add_assistant(answers[i % len(answers)])
    await refreshed(pane)
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    pane.scroll_home(animate=False, immediate=True)
    await refreshed(pane)
    await refreshed(pane)  # the layout asked for by answers rendered for the first time
    return first, time.perf_counter() - t1


async def refreshed(pane: MessagePane) -> None:
    done = asyncio.Event()
    pane.call_after_refresh(done.set)
    await done.wait()


async def run(quick: bool, turns: int) -> None:
    app = BenchApp()
    results: list[Result] = []
    async with app.run_test(headless=True, size=(120, 45)) as pilot:
        pane = app.query_one(MessagePane)
        for i in range(turns):  # some history, one long answer among it
            pane.add_user(f"Earlier question {i}")
            pane.add_assistant(markdown_answer(3000 if i == 2 else 200, seed=100 + i % 8))
        await pilot.pause(0.5)
        slow = 1500 if quick else 6000
        fast = 3000 if quick else 10000
        results.append(
            await stream(app, "100 tok/s", split_tokens(markdown_answer(slow), slow), 100)
        )
        results.append(
            await stream(app, "1000 tok/s", split_tokens(markdown_answer(fast), fast), 1000)
        )
        results.append(
            await stream(app, "all at once", split_tokens(markdown_answer(10000), 10000), None)
        )
        first, everything = await history(app, 500)
    headers = ["scenario", "tokens", "CPU", "CPU end", "lag p50", "p95", "p95 end", "max",
               "end ms", "ratio", "flushes"]  # fmt: skip
    rows = [headers] + [r.row() for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    print("(lags in ms; 'all at once' lag = first append to fully rendered)")
    print(f"history: 500 turns on screen in {first * 1000:.0f} ms; "
          f"jump to the top, rendered: {everything * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter answers")
    parser.add_argument("--history", type=int, default=6, help="turns already in the pane")
    args = parser.parse_args()
    asyncio.run(run(args.quick, args.history))


if __name__ == "__main__":
    main()
