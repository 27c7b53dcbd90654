"""Driving the real app headless (``App.run_test``) the way a user does: key events through the
driver, exactly as the terminal driver delivers them (no waiting for idle in between, unlike
``Pilot.press``, so that typing while an answer streams is measured as it happens).

"On screen" is measured with one hook: ``App._display``, which Textual calls with each
compositor update. The hook turns the update into terminal output (``render_segments``, the
work a real terminal update does and headless mode skips) and then takes the timestamp of the
frame. A token is on screen at the first frame after the flush of the answer that rendered it.

Each answer (``MessagePane.start_assistant``) is tracked by wrapping its ``append`` (to count
characters received), ``flush`` (characters rendered so far) and ``finish``; the pieces the
loopback server sent are then mapped to frames by their character offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from textual import events
from textual._compositor import CompositorUpdate
from textual.keys import _character_to_key
from textual.screen import Screen

from benchmarks.common import SIZE, scoped_env
from benchmarks.server import Sent
from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane

Condition = Callable[[], bool]


@dataclass
class Track:
    """One streamed answer: what was appended, flushed and shown, and when."""

    message: AssistantMessage
    appended: int = 0  # characters appended
    flushes: list[tuple[int, float]] = field(default_factory=list)  # (chars, flushed at)
    shown: list[tuple[int, float, float]] = field(default_factory=list)  # (chars, at, cpu)
    finished_at: float | None = None
    finished_shown: float | None = None  # first frame after finish()
    _unshown: int = 0  # index of the first flush not yet on screen

    def on_frame(self, now: float, cpu: float) -> None:
        if self._unshown < len(self.flushes):
            self.shown.append((self.flushes[-1][0], now, cpu))
            self._unshown = len(self.flushes)
        if self.finished_at is not None and self.finished_shown is None:
            self.finished_shown = now

    @property
    def shown_chars(self) -> int:
        return self.shown[-1][0] if self.shown else 0

    def first_shown(self) -> float | None:
        return self.shown[0][1] if self.shown else None

    def shown_at(self, chars: int) -> tuple[float, float] | None:
        """(time, process CPU) of the first frame showing at least ``chars`` characters."""
        for covered, at, cpu in self.shown:
            if covered >= chars:
                return at, cpu
        return None

    def lags(self, sent: list[Sent]) -> list[tuple[float, float]]:
        """(sent at, shown at) for each text piece the server sent, in order."""
        out: list[tuple[float, float]] = []
        end = 0
        i = 0
        for piece in sent:
            if not piece.text:
                continue
            end += len(piece.text)
            while i < len(self.shown) and self.shown[i][0] < end:
                i += 1
            if i == len(self.shown):
                break  # never shown (should not happen for a complete answer)
            out.append((piece.at, self.shown[i][1]))
        return out


@dataclass
class KeyWatch:
    """Keystrokes typed into the input while something else happens: press → echoed."""

    pending: deque[tuple[int, float]] = field(default_factory=deque)  # (text length, pressed)
    echoed: list[tuple[float, float]] = field(default_factory=list)  # (pressed, latency)
    done: threading.Event = field(default_factory=threading.Event)  # the typist has finished


class Probe:
    """Frame timestamps, tracked answers and keystroke echoes of one app."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self.frames = 0
        self.last_frame = 0.0
        self.tracks: list[Track] = []
        self.keys: KeyWatch | None = None
        self._input: ChatInput | None = None
        self._waiters: list[tuple[Condition, asyncio.Future[float]]] = []
        display = app._display

        def timed_display(screen: Screen[object], renderable: RenderableType | None) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # what a terminal update costs
            display(screen, renderable)
            if renderable is not None:
                self._on_frame()

        app._display = timed_display  # type: ignore[method-assign]

    def attach(self) -> None:
        """Once the chat screen is mounted: track every answer the pane starts."""
        pane = self.app.chat.query_one(MessagePane)
        self._input = self.app.chat.query_one(ChatInput)
        start = pane.start_assistant

        def tracked_start(label: str = "Assistant") -> AssistantMessage:
            message = start(label)
            self._track(message)
            return message

        pane.start_assistant = tracked_start  # type: ignore[method-assign]

    def _track(self, message: AssistantMessage) -> None:
        track = Track(message)
        append, flush, finish = message.append, message.flush, message.finish

        def counted_append(text: str) -> None:
            if text and message.status == "streaming":
                track.appended += len(text)
            append(text)

        def timed_flush() -> None:
            flush()
            if track.appended > (track.flushes[-1][0] if track.flushes else 0):
                track.flushes.append((track.appended, time.monotonic()))

        def timed_finish(*args: Any, **kwargs: Any) -> None:
            finish(*args, **kwargs)
            track.finished_at = time.monotonic()

        message.append = counted_append  # type: ignore[method-assign]
        message.flush = timed_flush  # type: ignore[method-assign]
        message.finish = timed_finish  # type: ignore[method-assign]
        self.tracks.append(track)

    def _on_frame(self) -> None:
        now = time.monotonic()
        self.frames += 1
        self.last_frame = now
        if self.tracks:
            self.tracks[-1].on_frame(now, time.process_time())
        keys = self.keys
        if keys is not None and keys.pending and self._input is not None:
            length = len(self._input.text)
            while keys.pending and keys.pending[0][0] <= length:
                pressed = keys.pending.popleft()[1]
                keys.echoed.append((pressed, now - pressed))
        if self._waiters:
            for waiter in list(self._waiters):
                condition, future = waiter
                if not future.done() and condition():
                    future.set_result(now)
                    self._waiters.remove(waiter)

    async def frame_when(self, condition: Condition, timeout: float = 30.0) -> float:
        """The time of the first frame at which ``condition`` holds (checked after each frame)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


async def poll(condition: Condition, timeout: float = 30.0, interval: float = 0.02) -> None:
    """Wait until ``condition`` holds (for states that are not about the screen)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(interval)


async def quiet(share: float = 0.05, window: float = 0.2, timeout: float = 60.0) -> float:
    """Wait until this process uses less than ``share`` of a core over ``window`` seconds;
    returns the time that quiet window began (the app finished its deferred work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t0, c0 = time.monotonic(), time.process_time()
        await asyncio.sleep(window)
        if (time.process_time() - c0) / (time.monotonic() - t0) < share:
            return t0
    raise TimeoutError("the app did not go quiet")


def key_event(key: str) -> events.Key:
    """A key as the terminal driver reports it: a character, or a name such as ``enter``."""
    if len(key) == 1:
        if key == " ":
            return events.Key("space", " ")
        return events.Key(key if key.isalnum() else _character_to_key(key), key)
    return events.Key(key, "\r" if key == "enter" else None)


@dataclass
class Harness:
    app: ChatApp
    probe: Probe

    @property
    def input(self) -> ChatInput:
        return self.app.chat.query_one(ChatInput)

    def press(self, key: str) -> float:
        """Send one key as the terminal driver does; returns the time it was sent."""
        event = key_event(key)
        event.set_sender(self.app)
        driver = self.app._driver
        assert driver is not None
        now = time.monotonic()
        driver.send_message(event)
        return now

    def typist(self, text: str, interval: float, start_length: int = 0) -> KeyWatch:
        """Type ``text`` from another thread, one key every ``interval`` seconds, as the
        terminal driver's input thread delivers keys: the typing goes on (and is timed) even
        while the app's event loop is busy, as a person's does. The probe times each echo."""
        watch = self.probe.keys = KeyWatch()

        def typing() -> None:
            start = time.monotonic()
            for i, ch in enumerate(text):
                time.sleep(max(0.0, start + i * interval - time.monotonic()))
                watch.pending.append((start_length + i + 1, time.monotonic()))
                event = key_event(ch)
                event.set_sender(self.app)
                assert self.app._driver is not None
                self.app._driver.send_message(event)
            watch.done.set()

        threading.Thread(target=typing, name="typist", daemon=True).start()
        return watch

    async def type(self, text: str) -> None:
        """Type ``text`` into the empty input and wait until it is on screen."""
        for ch in text:
            self.press(ch)
        await self.probe.frame_when(lambda: self.input.text == text, timeout=10)

    async def ask(self, question: str, stall: float = 15.0) -> tuple[Track, float]:
        """Type a question, press Enter, wait until the answer is complete and on screen.
        Returns the answer's track and the time Enter was sent. Raises if the answer does not
        complete, or if nothing new reaches the screen for ``stall`` seconds."""
        await self.type(question)
        count = len(self.probe.tracks)
        pressed = self.press("enter")
        await poll(lambda: len(self.probe.tracks) > count, timeout=10, interval=0.005)
        track = self.probe.tracks[-1]
        while track.finished_shown is None or self.app.chat.streaming:
            progress = max([pressed, *(at for _, at in track.flushes[-1:])])
            if time.monotonic() - progress > stall:
                raise TimeoutError(f"no progress for {stall} s: {track.message.status}, "
                                   f"{track.appended} characters received")  # fmt: skip
            await asyncio.sleep(0.02)
        if track.message.status != "complete":
            error = getattr(track.message, "error", None)
            raise RuntimeError(f"the answer ended {track.message.status}: {error}")
        return track, pressed

    async def idle(self, extra: float = 0.3) -> None:
        """Wait for background workers (SDK warm-up, token count) to end, then a little more.
        The warm-up starts after the first frame: wait for that first."""
        await poll(lambda: self.probe.frames > 0, timeout=30)
        await asyncio.sleep(0.1)
        await poll(lambda: all(w.is_finished for w in self.app.workers), timeout=30)
        await asyncio.sleep(extra)

    async def new_conversation(self) -> None:
        pane = self.app.chat.query_one(MessagePane)
        self.press("ctrl+n")
        await poll(lambda: not pane.query(AssistantMessage), timeout=10)
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, tmp: Path, *, doc: str | None = None, resume: bool = False
) -> AsyncIterator[Harness]:
    """The app from the one factory (``make_app``), headless at 140x45, in isolated dirs."""
    from benchmarks.common import dirs_env

    with scoped_env(dirs_env(tmp)):
        app = make_app(settings, doc=doc, resume=resume,
                       prefs=Prefs(path=tmp / "state" / "state.json"))  # fmt: skip
        probe = Probe(app)
        async with app.run_test(headless=True, size=SIZE):
            probe.attach()
            yield Harness(app, probe)
