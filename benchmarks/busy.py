"""The busy neighbour: another Textual app streaming a long Markdown answer, over and over.

The busy variant of the floor benchmark runs this in a second pseudo-terminal while it measures
chat-tui and the floor, as a user's machine has other programs drawing (a build, a browser,
another terminal app). It streams a generated 6,000-token Markdown answer (headings, lists,
tables, code) into a ``Markdown`` widget at ``--rate`` tokens a second (4 characters a token)
in 20 ms steps, then starts again, until it is stopped.

    python -m benchmarks.busy [--rate 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Markdown

from benchmarks.common import markdown_answer

STEP_S = 0.02
ANSWER_TOKENS = 6000


class BusyApp(App[None]):
    TITLE = "busy neighbour"

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.answers = [markdown_answer(ANSWER_TOKENS, seed=s) for s in (21, 22, 23)]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="scroll"):
            yield Markdown(id="answer")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.stream(), exclusive=True)

    async def stream(self) -> None:
        import asyncio

        markdown = self.query_one(Markdown)
        scroll = self.query_one(VerticalScroll)
        per_step = max(4, round(self.rate * STEP_S) * 4)  # characters per step
        n = 0
        while True:
            text = self.answers[n % len(self.answers)]
            n += 1
            await markdown.update("")
            stream = Markdown.get_stream(markdown)
            loop = asyncio.get_running_loop()
            due = loop.time()
            for i in range(0, len(text), per_step):
                await stream.write(text[i : i + per_step])
                scroll.scroll_end(animate=False)
                due += STEP_S
                await asyncio.sleep(max(0.0, due - loop.time()))
            await stream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="tokens a second")
    BusyApp(parser.parse_args().rate).run()


if __name__ == "__main__":
    main()
