"""4. Keeping up: Markdown answers streamed at 100 and 1,000 tokens/s for 20 s (``--quick``:
5 s), and 100 tokens/s at the end of a 6,000-token answer (the first 5,000 tokens at 2,000/s,
the last 1,000 at 100/s: measured over those last ones, after the first 100).

* lag: for each token, from the server writing it to the frame that shows it (p50, p95, max);
* CPU: process CPU over wall time while the answer streams (100 % = one core).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    Figure,
    Loopback,
    Options,
    bench_settings,
    log,
    markdown_answer,
    percentile,
)
from benchmarks.headless import Harness, Track, running_app

NAME = "keep up"


@dataclass
class Window:
    lags_ms: list[float]
    cpu_pct: float


def window(track: Track, lags: list[tuple[float, float]], skip: int) -> Window:
    """Lags of the tokens after the first ``skip``, and CPU over the time they streamed."""
    kept = lags[skip:]
    first_sent, last_shown = kept[0][0], kept[-1][1]
    start = next(s for s in track.shown if s[1] >= first_sent)
    end = next(s for s in track.shown if s[1] >= last_shown)
    cpu = (end[2] - start[2]) / (end[1] - start[1]) * 100
    return Window([(shown - sent) * 1000 for sent, shown in kept], cpu)


async def stream(
    h: Harness, server: Loopback, segments: list[tuple[int, float]], seed: int, skip: int
) -> Window:
    tokens = sum(n for n, _ in segments)
    server.configure(reply_text=markdown_answer(tokens, seed=seed), segments=list(segments))
    server.clear()
    track, _ = await h.ask(f"Explain it in {tokens} tokens, seed {seed}")
    lags = track.lags(server.log().texts())
    if len(lags) != tokens:
        raise RuntimeError(f"only {len(lags)} of {tokens} tokens mapped to frames")
    return window(track, lags, skip)


def run(opts: Options) -> list[Figure]:
    runs = opts.pick(2, 1)
    secs = int(opts.secs(20, 5))
    slow_tail = opts.pick(1000, 300)
    fast_head = opts.pick(5000, 4000)
    scenarios = [
        ("100 tok/s", [(100 * secs, 100.0)], 0, True),
        ("1,000 tok/s", [(1000 * secs, 1000.0)], 0, False),
        (f"100 tok/s at the end of a {fast_head + slow_tail:,}-token answer",
         [(fast_head, 2000.0), (slow_tail, 100.0)], fast_head + 100, True),
    ]  # fmt: skip
    figures: dict[str, list[Figure]] = {}
    for label, _, _, targets in scenarios:
        note = f"{secs} s" if not label.endswith("answer") else ""
        figures[label] = [
            Figure(NAME, f"{label}: lag p50", "ms", note=note),
            Figure(NAME, f"{label}: lag p95", "ms", target=150 if targets else None, note=note),
            Figure(NAME, f"{label}: lag max", "ms", note=note),
            Figure(NAME, f"{label}: CPU (% of a core)", "%", target=30 if targets else None,
                   note=note),
        ]  # fmt: skip

    async def one_run(r: int) -> None:
        with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-keepup-") as d:
            tmp = Path(d)
            async with running_app(bench_settings(server, tmp), tmp) as h:
                await h.idle(0.5)
                for i, (label, segments, skip, _) in enumerate(scenarios):
                    if i:
                        await h.new_conversation()
                    w = await stream(h, server, segments, seed=100 * r + i, skip=skip)
                    p50, p95, worst, cpu = figures[label]
                    p50.values.append(percentile(w.lags_ms, 50))
                    p95.values.append(percentile(w.lags_ms, 95))
                    worst.values.append(max(w.lags_ms))
                    cpu.values.append(w.cpu_pct)
                    log(f"run {r + 1}, {label}: lag p50 {p50.values[-1]:.0f} ms, p95 "
                        f"{p95.values[-1]:.0f} ms, max {worst.values[-1]:.0f} ms, CPU "
                        f"{cpu.values[-1]:.0f} %")  # fmt: skip

    for r in range(runs):
        asyncio.run(one_run(r))
    return [f for group in figures.values() for f in group]
