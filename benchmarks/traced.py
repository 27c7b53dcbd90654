"""Run ``chat-tui`` with a tracer in its process (for benchmarks/profile_enter.py).

    python -m benchmarks.traced OUT.json [--no-warm-up] -- [chat-tui arguments]

The tracer records every event-loop callback that takes 0.2 ms or more (when it started, how
long it ran, what it was) and every write to a socket transport (when, how many bytes), and
profiles with cProfile between SIGUSR1 and SIGUSR2. All of it goes to OUT.json (the profile
to OUT.prof) when the app exits. ``--no-warm-up``: the chat screen's SDK warm-up is skipped (to
measure what it costs the first frames); the first question then imports the SDK itself.
Nothing here changes what the app does otherwise.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import asyncio.selector_events
import atexit
import cProfile
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

MIN_S = 0.0002


def describe(handle: asyncio.events.Handle) -> str:
    """What a callback is: for a task's step, the task's coroutine."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        return f"task {owner.get_name()}: {name}"
    return repr(handle)[:200]


def install(out: Path, *, warm_up: bool) -> None:
    callbacks: list[tuple[float, float, str]] = []
    writes: list[tuple[float, int]] = []
    messages: list[tuple[float, float, str]] = []  # Textual messages handled (wall time)
    profile = cProfile.Profile()
    original_run = asyncio.events.Handle._run

    def timed_run(handle: asyncio.events.Handle) -> None:
        t0 = time.monotonic()
        original_run(handle)
        spent = time.monotonic() - t0
        if spent >= MIN_S:
            callbacks.append((t0, spent, describe(handle)))

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    transport = asyncio.selector_events._SelectorSocketTransport
    original_write = transport.write

    def traced_write(self: Any, data: Any) -> None:
        writes.append((time.monotonic(), len(data)))
        original_write(self, data)

    transport.write = traced_write  # type: ignore[method-assign]
    from textual.message_pump import MessagePump

    original_dispatch = MessagePump._dispatch_message

    async def traced_dispatch(self: Any, message: Any) -> None:
        t0 = time.monotonic()
        await original_dispatch(self, message)
        spent = time.monotonic() - t0
        if spent >= MIN_S:
            messages.append((t0, spent, f"{type(self).__name__} <- {type(message).__name__}"))

    MessagePump._dispatch_message = traced_dispatch  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    signal.signal(signal.SIGUSR2, lambda *_: profile.disable())

    if not warm_up:
        from chat_tui.ui.screens.chat import ChatScreen

        async def no_warm_up(self: Any) -> None:
            return None

        ChatScreen.warm_up = no_warm_up  # type: ignore[assignment,method-assign]

    def dump() -> None:
        profile.disable()
        profile.dump_stats(str(out.with_suffix(".prof")))
        out.write_text(
            json.dumps({"callbacks": callbacks, "writes": writes, "messages": messages}),
            encoding="utf-8",
        )

    atexit.register(dump)


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    own, rest = args[:split], args[split + 1 :]
    install(Path(own[0]), warm_up="--no-warm-up" not in own)
    from chat_tui.cli import main as chat_main

    sys.argv = ["chat-tui", *rest]
    sys.exit(chat_main(rest))


if __name__ == "__main__":
    main()
