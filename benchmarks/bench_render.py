"""3. Render throughput: long Markdown answers (paragraphs, lists, tables, several fenced code
blocks, one very long paragraph, one very long code block), 4-character tokens, sent by the
loopback server at 1,000 tokens/s and all at once. One fresh app per run; each answer in a new
conversation (ctrl+n), asked by typing the question and pressing Enter.

* end: the server's last byte → the last token on screen;
* all at once: the server's first byte → the answer fully rendered (final form, status line);
* CPU: process CPU seconds from Enter to the last token on screen (the server runs in
  another process, so this is the app's own work, plus the terminal output it renders);
* flat cost per token: mean lag (sent → on screen) of the last 1,000 tokens over the first
  1,000.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Figure, Loopback, Options, bench_settings, log, markdown_answer
from benchmarks.headless import Harness, running_app


@dataclass
class Outcome:
    end_s: float  # server's last byte → last token on screen
    full_s: float  # server's first byte → fully rendered (after finish)
    cpu_s: float
    ratio: float  # mean lag of the last 1,000 tokens / of the first 1,000
    lag_p50_s: float


NAME = "render"


async def stream_answer(
    h: Harness, server: Loopback, tokens: int, rate: float | None, seed: int
) -> Outcome:
    server.configure(reply_text=markdown_answer(tokens, seed=seed), segments=[(tokens, rate)])
    server.clear()
    cpu0 = time.process_time()
    track, _ = await h.ask(f"Write a {tokens}-token overview, seed {seed}")
    sent = server.log().texts()
    lags = [shown - at for at, shown in track.lags(sent)]
    if len(lags) != tokens or track.shown_chars != tokens * 4:
        raise RuntimeError(f"{len(lags)} of {tokens} tokens mapped, {track.shown_chars} chars")
    last = track.shown_at(tokens * 4)
    assert last is not None and track.finished_shown is not None
    n = min(1000, tokens // 3)
    return Outcome(
        end_s=last[0] - sent[-1].at,
        full_s=track.finished_shown - sent[0].at,
        cpu_s=last[1] - cpu0,
        ratio=statistics.fmean(lags[-n:]) / statistics.fmean(lags[:n]),
        lag_p50_s=statistics.median(lags),
    )


def run(opts: Options) -> list[Figure]:
    runs = opts.pick(3, 1)
    small, big = 3000, 10000
    f: dict[str, Figure] = {
        "end3": Figure(NAME, "3,000 tok @ 1,000/s: server's last byte → last token on screen",
                       "ms", target=300),
        "cpu3": Figure(NAME, "3,000 tok @ 1,000/s: CPU", "s"),
        "end10": Figure(NAME, "10,000 tok @ 1,000/s: server's last byte → last token on screen",
                        "ms", target=500),
        "cpu10": Figure(NAME, "10,000 tok @ 1,000/s: CPU", "s"),
        "ratio10": Figure(NAME, "10,000 tok @ 1,000/s: lag last 1,000 / first 1,000", "x",
                          target=1.5),
        "p50_10": Figure(NAME, "10,000 tok @ 1,000/s: lag sent → on screen p50", "ms"),
        "full": Figure(NAME, "10,000 tok all at once: server's first byte → fully rendered",
                       "ms", target=1500),
        "endall": Figure(NAME, "10,000 tok all at once: server's last byte → last token on screen",
                         "ms"),
        "cpuall": Figure(NAME, "10,000 tok all at once: CPU", "s"),
    }  # fmt: skip

    async def one_run(r: int) -> None:
        with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-render-") as d:
            tmp = Path(d)
            async with running_app(bench_settings(server, tmp), tmp) as h:
                await h.idle(0.5)
                o = await stream_answer(h, server, small, 1000, seed=10 + r)
                f["end3"].values.append(o.end_s * 1000)
                f["cpu3"].values.append(o.cpu_s)
                await h.new_conversation()
                o = await stream_answer(h, server, big, 1000, seed=20 + r)
                f["end10"].values.append(o.end_s * 1000)
                f["cpu10"].values.append(o.cpu_s)
                f["ratio10"].values.append(o.ratio)
                f["p50_10"].values.append(o.lag_p50_s * 1000)
                await h.new_conversation()
                o = await stream_answer(h, server, big, None, seed=30 + r)
                f["full"].values.append(o.full_s * 1000)
                f["endall"].values.append(o.end_s * 1000)
                f["cpuall"].values.append(o.cpu_s)
        log(f"run {r + 1}: 3k end {f['end3'].values[-1]:.0f} ms, 10k end "
            f"{f['end10'].values[-1]:.0f} ms ratio {f['ratio10'].values[-1]:.2f}, all at once "
            f"{f['full'].values[-1]:.0f} ms")  # fmt: skip

    for r in range(runs):
        asyncio.run(one_run(r))
    return list(f.values())
