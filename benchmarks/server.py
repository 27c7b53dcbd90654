"""The benchmarks' loopback server, in a child process of its own.

The server is ``tests.loopback.LoopbackServer`` (the real Anthropic SSE protocol, its prompt
cache simulation, and ``sent_log``: when each event was written), extended with:

* a timed schedule: text events at a given rate, per segment (e.g. 5,000 tokens at 2,000/s
  then 1,000 at 100/s), each event due at *start + its offset*, so a high rate does not drift
  behind its nominal speed the way per-event sleeps do;
* a first-byte delay (a model's time to first token), and optionally a simulated prefill
  delay proportional to the uncached and cached prompt tokens of the request.

It runs in its own process so that its work (JSON, SSE framing, the cache simulation) does not
take the GIL or CPU time from the app being measured, as a real server would not. Times are
``time.monotonic()``: CLOCK_MONOTONIC is system-wide on Linux, so the benchmark compares them
with its own. Control is one JSON object per line on the child's stdin / stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VERBOSE = False  # True: let the child's stderr through (run.py --verbose)


@dataclass(frozen=True)
class Sent:
    at: float  # time.monotonic() just after the event was written to the socket
    text: str | None  # the token text the event carries, if any


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request head arrived
    path: str
    first_byte_delay: float | None  # the delay the server added before its first event


@dataclass(frozen=True)
class ServerLog:
    requests: list[Received]
    sent: list[Sent]

    def texts(self) -> list[Sent]:
        return [s for s in self.sent if s.text]

    def messages_request(self) -> Received | None:
        found = [r for r in self.requests if r.path == "/v1/messages"]
        return found[-1] if found else None


@dataclass(frozen=True)
class ScriptEvent:
    """One server-sent event of a scripted reply: ``event`` (the SSE event name, None for
    OpenAI's unnamed events), ``data`` (the JSON payload, or a string such as ``[DONE]``), and
    ``delay``: seconds after the previous event (the first event's counts from the request)."""

    event: str | None
    data: dict[str, Any] | str
    delay: float = 0.0


@dataclass(frozen=True)
class Prefill:
    """Simulated model latency before the first byte: ``base_s`` plus ``uncached_s`` per
    uncached or cache-written prompt token plus ``cached_s`` per cache-read token."""

    base_s: float
    uncached_s: float
    cached_s: float

    def delay(self, uncached: int, cached: int) -> float:
        return self.base_s + uncached * self.uncached_s + cached * self.cached_s


class Loopback:
    """Handle on a loopback server running in a child process."""

    def __init__(self, *, min_cache_tokens: int = 1024) -> None:
        self.min_cache_tokens = min_cache_tokens
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> Loopback:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--min-cache-tokens",
             str(self.min_cache_tokens)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True,
            stderr=None if VERBOSE else subprocess.DEVNULL,  # its shutdown is noisy
        )  # fmt: skip
        assert self._proc.stdout is not None
        hello = json.loads(self._proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{hello['port']}"
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            proc.stdin.close()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()

    def _call(self, **command: Any) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(command) + "\n")
        proc.stdin.flush()
        reply: dict[str, Any] = json.loads(proc.stdout.readline())
        return reply

    def configure(
        self,
        *,
        reply_text: str | None = None,
        segments: list[tuple[int, float | None]] | None = None,
        first_byte_delay: float = 0.0,
        prefill: Prefill | None = None,
    ) -> None:
        """The default reply: ``reply_text`` in 4-character tokens; ``segments``: (count, tokens
        per second or None for all at once), the last rate applying to any further tokens."""
        self._call(
            op="configure", reply_text=reply_text, segments=segments,
            first_byte_delay=first_byte_delay,
            prefill=None if prefill is None else [prefill.base_s, prefill.uncached_s,
                                                  prefill.cached_s],
        )  # fmt: skip

    def script(self, *replies: list[ScriptEvent]) -> None:
        """Answer the next requests (one reply each, in order) with these scripted event lists
        instead of the default reply; see benchmarks/scenarios.py for builders (thinking, tool
        calls). Once they are used up, the default reply is back. No argument: drop any left."""
        self._call(op="script", replies=[[[e.event, e.data, e.delay] for e in r] for r in replies])

    def clear(self) -> None:
        """Forget the recorded requests and sent events."""
        self._call(op="clear")

    def log(self) -> ServerLog:
        reply = self._call(op="log")
        return ServerLog(
            [Received(at, path, delay) for at, path, delay in reply["requests"]],
            [Sent(at, text) for at, text in reply["sent"]],
        )


# ---------------------------------------------------------------- the child process


def _child(min_cache_tokens: int) -> None:  # pragma: no cover - runs in the child
    sys.path.insert(0, str(ROOT))
    from tests.loopback import LoopbackServer, SentChunk, _Stream
    from tests.loopback_wire import _event as _sse
    from tests.loopback_wire import event_text

    class TimedLoopback(LoopbackServer):
        def __init__(self) -> None:
            super().__init__(min_cache_tokens=min_cache_tokens)
            self.segments: list[tuple[int, float | None]] | None = None
            self.first_byte_delay = 0.0
            self.prefill: Prefill | None = None
            self.added_delays: dict[int, float] = {}  # request index → first-byte delay
            self.scripts: list[list[list[Any]]] = []  # scripted replies still to send

        def _default(self, request: Any) -> Any:
            chat = request.path in ("/v1/messages", "/v1/chat/completions")
            if chat and request.method == "POST" and self.scripts:
                events = self.scripts.pop(0)
                raw = [_sse(name, data) for name, data, _ in events]
                self.added_delays[len(self.requests) - 1] = events[0][2] if events else 0.0
                return _Stream(raw, [delay for _, _, delay in events])
            return super()._default(request)

        def _rate(self, index: int) -> float | None:
            rate: float | None = None
            seen = 0
            for count, rate in self.segments or [(0, None)]:
                seen += count
                if index < seen:
                    return rate
            return rate

        def _anthropic_reply(self, body: dict[str, Any]) -> Any:
            stream = super()._anthropic_reply(body)
            first = self.first_byte_delay
            if self.prefill is not None:
                usage = json.loads(stream.events[0].split(b"data: ", 1)[1])["message"]["usage"]
                uncached = usage["input_tokens"] + usage["cache_creation_input_tokens"]
                first += self.prefill.delay(uncached, usage["cache_read_input_tokens"])
            return self._timed(stream, first)

        def _openai_reply(self, body: dict[str, Any]) -> Any:
            return self._timed(super()._openai_reply(body), self.first_byte_delay)

        def _timed(self, stream: Any, first: float) -> Any:
            """The reply's text events on the configured schedule, after ``first`` seconds."""
            delays, index = [], 0
            for event in stream.events:
                if event_text(event):
                    rate = self._rate(index)
                    delays.append(1 / rate if rate else 0.0)
                    index += 1
                else:
                    delays.append(0.0)
            delays[0] += first
            self.added_delays[len(self.requests) - 1] = first
            return stream._replace(delays=delays)

        async def _stream(
            self, stream: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> bool:
            """As LoopbackServer._stream, each event due at an absolute time (no drift)."""
            headers = {"content-type": "text/event-stream; charset=utf-8",
                       "cache-control": "no-cache"}  # fmt: skip
            writer.write(self._head(200, headers))
            await writer.drain()
            eof = asyncio.ensure_future(reader.read(1))
            due = time.monotonic()
            try:
                for event, delay in zip(stream.events, stream.delays, strict=True):
                    due += delay
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.wait({eof}, timeout=wait)
                    if eof.done():
                        self._note_disconnect()
                        return False
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                    self.sent_log.append(SentChunk(time.monotonic(), event, event_text(event)))
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return True
            except ConnectionError:
                self._note_disconnect()
                return False
            finally:
                eof.cancel()
                await asyncio.wait({eof})
                if not eof.cancelled():
                    eof.exception()  # retrieved, so asyncio does not log it

    server = TimedLoopback().start()
    print(json.dumps({"port": server.port}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        reply: dict[str, Any] = {"ok": True}
        if op == "configure":
            server.reply_text = command["reply_text"]
            server.segments = [tuple(s) for s in command["segments"] or []] or None  # type: ignore[misc]
            server.first_byte_delay = command["first_byte_delay"]
            server.prefill = Prefill(*command["prefill"]) if command["prefill"] else None
        elif op == "script":
            server.scripts = list(command["replies"])
        elif op == "clear":
            server.requests.clear()
            server.sent_log.clear()
            server.added_delays.clear()
        elif op == "log":
            requests = list(server.requests)
            delays = server.added_delays
            reply = {
                "requests": [
                    [r.received_at, r.path, delays.get(i)] for i, r in enumerate(requests)
                ],
                "sent": [[c.at, c.text] for c in list(server.sent_log)],
            }
        elif op == "quit":
            break
        print(json.dumps(reply), flush=True)
    server.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="benchmark loopback server (child process)")
    parser.add_argument("--min-cache-tokens", type=int, default=1024)
    _child(parser.parse_args().min_cache_tokens)
