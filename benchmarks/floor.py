"""The floor: the least a Textual streaming chat client can do.

A Header, a ``Log``, an ``Input`` and a Footer. On Enter it streams the answer to the question
from an OpenAI-compatible server (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) with the OpenAI SDK,
imported on the first question, and appends each delta to the Log. Nothing else: no storage, no
history, no Markdown, no metrics. The benchmarks run it beside chat-tui, interleaved, so that
machine noise hits both alike; chat-tui's figures are reported as ratios to these.

    python -m benchmarks.floor        (in a terminal, with the two variables set)
"""

from __future__ import annotations

import os
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Log

MODEL = "gpt-floor"
PLACEHOLDER = "Ask anything"  # the same words as chat-tui's, so one wait fits both
FOOTER_KEY = "^q Quit"  # the footer's only binding, drawn with the key bar


class FloorApp(App[None]):
    TITLE = "floor"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit")]

    def __init__(self) -> None:
        super().__init__()
        self._client: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Log(id="log")
        yield Input(placeholder=PLACEHOLDER, id="input")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        question = event.value
        event.input.value = ""
        self.query_one(Log).write_line(f"> {question}")
        self.ask(question)

    @work(exclusive=True, group="ask", exit_on_error=False)
    async def ask(self, question: str) -> None:
        try:
            await self._stream(question)
        except Exception as exc:  # shown, as any client would, not a crash
            self.query_one(Log).write_line(f"error: {exc.__class__.__name__}: {exc}")

    async def _stream(self, question: str) -> None:
        if self._client is None:
            from openai import AsyncOpenAI  # lazily: the first question pays for it

            self._client = AsyncOpenAI(base_url=os.environ.get("OPENAI_BASE_URL"), max_retries=0)
        log = self.query_one(Log)
        stream = await self._client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                log.write(chunk.choices[0].delta.content)
        log.write_line("")


if __name__ == "__main__":
    FloorApp().run()
