"""2. First token: Enter pressed → the first token on screen, minus the server's own delay.

The loopback server waits ``FIRST_BYTE_S`` (a model's time to first token) before it answers,
then streams a short answer at 100 tokens/s. For each turn:

    overhead = (first token on screen - Enter) - (first token sent - request received)

i.e. everything the client adds: handling the key, storing the question, building and
sending the request, the SDK's parsing, the pane's flush and the frame that shows it.
The split below it says where the time goes: Enter → request at the server, and first token
sent → on screen.
"""

from __future__ import annotations

import asyncio
import tempfile
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
from benchmarks.headless import running_app

NAME = "first token"
FIRST_BYTE_S = 0.2
REPLY_TOKENS = 20
RATE = 100.0


async def _one_run(turns: int) -> tuple[list[float], list[float], list[float], list[float]]:
    overhead, total, to_server, to_screen = [], [], [], []
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-ttft-") as d:
        tmp = Path(d)
        server.configure(reply_text=markdown_answer(REPLY_TOKENS, seed=1),
                         segments=[(REPLY_TOKENS, RATE)], first_byte_delay=FIRST_BYTE_S)  # fmt: skip
        async with running_app(bench_settings(server, tmp), tmp) as h:
            await h.idle(0.5)
            for i in range(turns):
                server.clear()
                track, pressed = await h.ask(f"Question number {i} about the cache")
                logged = server.log()
                request = logged.messages_request()
                texts = logged.texts()
                shown = track.first_shown()
                assert request is not None and texts and shown is not None
                server_s = texts[0].at - request.at
                overhead.append((shown - pressed - server_s) * 1000)
                total.append((shown - pressed) * 1000)
                to_server.append((request.at - pressed) * 1000)
                to_screen.append((shown - texts[0].at) * 1000)
                await asyncio.sleep(0.15)
    return overhead, total, to_server, to_screen


def run(opts: Options) -> list[Figure]:
    runs, turns = opts.pick(3, 1), opts.pick(20, 8)
    note = f"{turns} turns a run"
    p50 = Figure(NAME, "overhead (screen − server) p50", "ms", target=30, note=note)
    p95 = Figure(NAME, "overhead (screen − server) p95", "ms", target=60, note=note)
    worst = Figure(NAME, "overhead max", "ms")
    total = Figure(NAME, f"Enter → first token on screen p50 (server waits {FIRST_BYTE_S * 1000:.0f} ms)",
                   "ms")  # fmt: skip
    to_server = Figure(NAME, "  of which Enter → request at server p50", "ms")
    to_screen = Figure(NAME, "  of which first token sent → on screen p50", "ms")
    for r in range(runs):
        over, tot, srv, scr = asyncio.run(_one_run(turns))
        p50.values.append(percentile(over, 50))
        p95.values.append(percentile(over, 95))
        worst.values.append(max(over))
        total.values.append(percentile(tot, 50))
        to_server.values.append(percentile(srv, 50))
        to_screen.values.append(percentile(scr, 50))
        log(f"run {r + 1}: overhead p50 {p50.values[-1]:.0f} ms, p95 {p95.values[-1]:.0f} ms, "
            f"each: {' '.join(f'{x:.0f}' for x in over)}")  # fmt: skip
    return [p50, p95, worst, total, to_server, to_screen]
