"""7. Caching economics: a scripted 10-turn conversation about a ~20,000-token document (loaded
with ``--doc``, i.e. ``make_app(doc=...)``), each question typed and sent with Enter, against
the loopback server's prompt-cache simulation (Anthropic rules: the document block and the
user messages carry cache breakpoints).

* billed input: the prompt tokens of the 10 turns priced as billed (uncached x input,
  cache writes x the 5-minute write price, cache reads x the read price, for
  claude-haiku-4-5 from ``chat_tui/core/models.toml``), over the same tokens all priced
  as uncached input. Also the session's total (with output) as the panel shows it.
* first-token latency, cold (turn 1, writes the cache) and warm (turns 2-10, median). The
  loopback server has no model, so it *simulates* one: before the first byte it waits
  ``PREFILL`` = 150 ms + 40 µs per uncached or cache-written prompt token + 4 µs per
  cache-read token (a prefill of 25,000 tokens/s, ten times faster from the cache). The
  figures are the app's own first-token latency (request sent → first text, as the panel
  shows it) and Enter → first token on screen.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import (
    Figure,
    Loopback,
    Options,
    Prefill,
    bench_settings,
    log,
    markdown_answer,
    plain_document,
)
from benchmarks.headless import running_app
from chat_tui.core.models import lookup_model

NAME = "economics"
PREFILL = Prefill(base_s=0.15, uncached_s=40e-6, cached_s=4e-6)
DOC_CHARS = 80_000  # ~20,000 tokens at 4 characters a token
QUESTIONS = [
    "What is the document about?",
    "Summarise section 3.",
    "Which sections mention latency?",
    "List the terms it defines.",
    "What does it say about retries?",
    "Compare sections 5 and 9.",
    "What would you change in it?",
    "Is anything contradictory?",
    "Give me three quotes from it.",
    "Write a one-line summary.",
]


async def _conversation(tmp: Path, turns: int) -> dict[str, float]:
    doc = tmp / "reference.md"
    doc.write_text(plain_document(DOC_CHARS), encoding="utf-8")
    with Loopback() as server:
        server.configure(reply_text=markdown_answer(120, seed=4), segments=[(120, 200.0)],
                         prefill=PREFILL)  # fmt: skip
        async with running_app(bench_settings(server, tmp), tmp, doc=str(doc)) as h:
            await h.idle(0.5)
            screen_ttft: list[float] = []
            simulated: list[float] = []
            for question in QUESTIONS[:turns]:
                server.clear()
                track, pressed = await h.ask(question)
                shown = track.first_shown()
                request = server.log().messages_request()
                assert shown is not None and request is not None
                screen_ttft.append(shown - pressed)
                simulated.append(request.first_byte_delay or 0.0)
                await asyncio.sleep(0.2)
            session = h.app.session
            info = lookup_model("anthropic", session.model)
            assert info is not None and info.cache_write_5m is not None
            assert info.cache_read is not None
            billed = uncached = 0.0
            for turn in session.turns:
                u = turn.usage
                plain, write, read = u.input_tokens or 0, u.cache_write_tokens or 0, (
                    u.cache_read_tokens or 0)  # fmt: skip
                billed += plain * info.input + write * info.cache_write_5m + read * info.cache_read
                uncached += (plain + write + read) * info.input
            app_ttft = [t.ttft_s or 0.0 for t in session.turns]
            cost = session.session_cost
            assert cost.usd is not None and cost.uncached_usd is not None
            return {
                "ratio": billed / uncached,
                "total_ratio": cost.usd / cost.uncached_usd,
                "cold": app_ttft[0], "warm": statistics.median(app_ttft[1:]),
                "screen_cold": screen_ttft[0], "screen_warm": statistics.median(screen_ttft[1:]),
                "sim_cold": simulated[0], "sim_warm": statistics.median(simulated[1:]),
                "read_tokens": sum(t.usage.cache_read_tokens or 0 for t in session.turns),
                "prompt_tokens": sum(t.usage.prompt_tokens or 0 for t in session.turns),
            }  # fmt: skip


def run(opts: Options) -> list[Figure]:
    runs, turns = opts.pick(2, 1), 10
    f_ratio = Figure(NAME, f"{turns} turns, ~20k-token document: billed input / uncached", "x",
                     target=0.15)  # fmt: skip
    f_total = Figure(NAME, f"{turns} turns: session cost / uncached (with output)", "x")
    f_cold = Figure(NAME, "first-token latency, cold (turn 1)", "ms", note="simulated model")
    f_warm = Figure(NAME, "first-token latency, warm (turns 2-10, median)", "ms",
                    note="simulated model")  # fmt: skip
    f_scold = Figure(NAME, "Enter → first token on screen, cold", "ms")
    f_swarm = Figure(NAME, "Enter → first token on screen, warm (median)", "ms")
    f_sim = Figure(NAME, "  simulated server delay cold / warm", "ms")
    for r in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-economics-") as d:
            out = asyncio.run(_conversation(Path(d), turns))
        f_ratio.values.append(out["ratio"])
        f_total.values.append(out["total_ratio"])
        f_cold.values.append(out["cold"] * 1000)
        f_warm.values.append(out["warm"] * 1000)
        f_scold.values.append(out["screen_cold"] * 1000)
        f_swarm.values.append(out["screen_warm"] * 1000)
        f_sim.note = f"{out['sim_cold'] * 1000:.0f} / {out['sim_warm'] * 1000:.0f} ms"
        f_sim.values.append(out["sim_cold"] * 1000)
        log(f"run {r + 1}: billed input / uncached {out['ratio']:.3f} (cache reads "
            f"{out['read_tokens']:,.0f} of {out['prompt_tokens']:,.0f} prompt tokens), TTFT cold "
            f"{out['cold'] * 1000:.0f} ms, warm {out['warm'] * 1000:.0f} ms")  # fmt: skip
    return [f_ratio, f_total, f_cold, f_warm, f_scold, f_swarm]
