"""A turn with two tool calls: what the tool loop adds around the model and the tools.

    python benchmarks/bench_tools.py            # full run
    python benchmarks/bench_tools.py --quick

The app from ``make_app``, headless (140x45), with the tests' MCP server (tests/mcp_server.py,
the mcp SDK's server side, over stdio) configured. Each turn: the scripted reply streams a line
of text and two tool calls (``t__echo``, ``t__add``) at 1,000 tokens/s; each call is approved
with ``y`` as a person would; then the second request's answer streams. Measured per turn:

* Enter → the first call's block on screen (the call forming, before its arguments end);
* ``y`` on the last call → the second request at the server: running the call over MCP
  (a stdio round trip) and building and sending the next request (target 150 ms);
* the whole turn: Enter → the final answer complete on screen.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Figure, Loopback, Options, bench_settings, log, percentile
from benchmarks.headless import poll, running_app
from benchmarks.scenarios import Text, ToolUse, anthropic_reply
from chat_tui.config import McpServer
from chat_tui.ui.widgets.tool_call import ToolCallBlock

NAME = "tools"
RATE = 1000.0
SERVER = Path(__file__).resolve().parents[1] / "tests" / "mcp_server.py"


async def _one_run(turns: int) -> tuple[list[float], list[float], list[float]]:
    formed, tool_to_request, whole = [], [], []
    mcp = McpServer(name="t", command=sys.executable, args=(str(SERVER),))
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-tools-") as d:
        tmp = Path(d)
        async with running_app(bench_settings(server, tmp, mcp_servers=(mcp,)), tmp) as h:
            await h.idle(0.5)
            await poll(lambda: bool(h.app.session.tools.tools()), timeout=60)
            for i in range(turns):
                server.clear()
                calls = [Text("Let me check both."),
                         ToolUse("t__echo", {"text": f"turn {i} " * 20}, id=f"toolu_{i}_1"),
                         ToolUse("t__add", {"a": i, "b": 2}, id=f"toolu_{i}_2")]  # fmt: skip
                server.script(anthropic_reply(calls, rate=RATE),
                              anthropic_reply([Text(f"Done with turn {i}. " * 30)], rate=RATE))  # fmt: skip
                before = len(h.app.chat.query(ToolCallBlock))
                await h.type(f"Question {i}")
                pressed = h.press("enter")
                shown = await h.probe.frame_when(
                    lambda n=before: len(h.app.chat.query(ToolCallBlock)) > n, timeout=20
                )
                formed.append((shown - pressed) * 1000)
                last_yes = 0.0
                for _ in range(2):
                    await poll(lambda: any(b.status == "asking" for b in h.app.chat.query(ToolCallBlock)),
                               timeout=20, interval=0.005)  # fmt: skip
                    last_yes = h.press("y")
                    await poll(lambda: not any(b.status == "asking" for b in h.app.chat.query(ToolCallBlock)),
                               timeout=20, interval=0.005)  # fmt: skip
                await poll(lambda: not h.app.chat.streaming, timeout=30)
                done = time.monotonic()
                requests = [r for r in server.log().requests if r.path == "/v1/messages"]
                assert len(requests) == 2, requests
                tool_to_request.append((requests[1].at - last_yes) * 1000)
                whole.append((done - pressed) * 1000)
                await asyncio.sleep(0.15)
    return formed, tool_to_request, whole


def run(opts: Options) -> list[Figure]:
    runs, turns = opts.pick(3, 1), opts.pick(8, 3)
    note = f"{turns} turns a run, 2 calls a turn"
    formed = Figure(NAME, "Enter → first tool call on screen p50", "ms", note=note)
    to_request = Figure(NAME, "y (last call) → next request at server p50", "ms", target=150,
                        note="runs the call over MCP stdio, then sends")  # fmt: skip
    whole = Figure(NAME, "Enter → turn complete p50 (2 requests, 2 calls)", "ms", note=note)
    for r in range(runs):
        f, t, w = asyncio.run(_one_run(turns))
        formed.values.append(percentile(f, 50))
        to_request.values.append(percentile(t, 50))
        whole.values.append(percentile(w, 50))
        log(f"run {r + 1}: first call shown {formed.values[-1]:.0f} ms, "
            f"y → request {to_request.values[-1]:.0f} ms, turn {whole.values[-1]:.0f} ms")  # fmt: skip
    return [formed, to_request, whole]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for figure in run(Options(quick=args.quick)):
        print(figure.row())
