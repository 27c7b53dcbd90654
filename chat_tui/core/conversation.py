"""The conversation and the request built from it, with its cache breakpoints.

Breakpoints (Anthropic allows four; we use at most three, the tools' one makes four):

1. the last reference document: each document is its own block after a short instruction
   block, in load order (for Anthropic, PDFs and uploads go as ``document`` blocks at the start
   of the first user message, and then every document does, still in order);
2. the previous user message, which the last turn wrote to the cache, so this turn reads the
   whole earlier conversation from the cache;
3. the latest user message, which writes the cache for the next turn.

Older breakpoints move forward with the conversation. OpenAI-compatible servers cache prefixes
automatically: for them the same request is flattened into one stable system message first.

The history sent is always valid for a provider: strictly alternating user/assistant turns and
no empty messages, whatever happened to earlier turns. An answer that was stopped or broke off
is sent back with a note saying so, never as if it were complete; a turn that failed before
any text arrived is left out (retrying it re-asks the same question).

An answer is a sequence of parts (text, thinking, tool calls). A complete answer's thinking
blocks go back exactly as received, but only to the provider and model that made them (a
signature is valid for its model alone); on a switch, and for cut answers, they are stripped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from chat_tui.core.documents import Document
from chat_tui.core.tool_history import has_content, merge_adjacent, turn_messages
from chat_tui.providers.events import (
    THINKING_OFF,
    THINKING_PARTS,
    CacheTTL,
    ChatRequest,
    DocumentPart,
    Message,
    Part,
    SystemBlock,
    TextPart,
    Thinking,
    ThinkingPart,
    ToolResultPart,
    ToolSpec,
    ToolUsePart,
    parts_text,
)

Status = Literal["pending", "streaming", "complete", "stopped", "interrupted", "failed"]
CUT_NOTE = {
    "stopped": "[This answer was stopped by the user before it was finished.]",
    "interrupted": "[This answer was cut off by a connection or provider error.]",
    "failed": "[This answer was cut off by a connection or provider error.]",
}


@dataclass
class Exchange:
    """One question and its answer. The answer is ``parts`` (text, thinking, tool calls) made
    by ``provider``/``model``; ``answer`` is its text. ``*_id`` are the storage row ids."""

    user: str
    parts: list[Part] = field(default_factory=list)
    status: Status = "pending"
    note: str | None = None
    user_id: int | None = None
    answer_id: int | None = None
    provider: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    thinking_s: float | None = None  # how long the model thought, where known

    @property
    def answer(self) -> str:
        return parts_text(self.parts)

    @property
    def thinking(self) -> str:
        """The answer's reasoning text, blocks joined by a blank line."""
        return "\n\n".join(p.text for p in self.parts if isinstance(p, ThinkingPart) and p.text)

    def reply_parts(self, provider: str, model: str) -> tuple[Part, ...]:
        """The parts to send back to ``provider``/``model``: all of a complete answer by that
        same model, byte-exact; the others without their thinking; a cut answer as its text
        with a note saying so (and its tool calls and results, kept paired)."""
        if self.status in CUT_NOTE:
            kept = tuple(p for p in self.parts if isinstance(p, ToolUsePart | ToolResultPart))
            return (TextPart(f"{self.answer.rstrip()}\n\n{CUT_NOTE[self.status]}"), *kept)
        if (self.provider, self.model) == (provider, model):
            return tuple(self.parts)
        return tuple(p for p in self.parts if not isinstance(p, THINKING_PARTS))

    def messages(self, provider: str, model: str) -> list[Message]:
        """The question and its answer as messages (several for a turn with tool calls); a
        cut answer's last assistant message says it was cut, and a cut call gets an error
        result."""
        if self.status in CUT_NOTE:
            parts = [p for p in self.parts if not isinstance(p, THINKING_PARTS)]
            return turn_messages(self.user, parts, CUT_NOTE[self.status])
        return turn_messages(self.user, self.reply_parts(provider, model))


@dataclass
class Conversation:
    system_prompt: str
    exchanges: list[Exchange] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    title: str = "New conversation"
    id: int | None = None
    # sha256 → Files API id, for documents uploaded to this conversation's provider.
    file_ids: dict[str, str] = field(default_factory=dict, compare=False)

    def ask(self, text: str) -> Exchange:
        exchange = Exchange(user=text)
        self.exchanges.append(exchange)
        if len(self.exchanges) == 1:
            self.title = _title_from(text)
        return exchange

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def system_blocks(self) -> tuple[SystemBlock, ...]:
        """The instruction, then each document as its own block in load order; the cache
        breakpoint sits on the last document, so the whole set is one cached prefix. Each
        block carries its document as a part: PDF bytes, or the Files API id in
        ``file_ids`` (by sha256), for providers that take document blocks."""
        blocks = [SystemBlock(self.system_prompt)]
        last = len(self.documents) - 1
        for i, doc in enumerate(self.documents):
            file_id = self.file_ids.get(doc.sha256)
            part = DocumentPart(
                doc.name, doc.media_type, text=None if doc.data is not None else doc.text,
                data=None if file_id else doc.data, file_id=file_id,
            )  # fmt: skip
            body = f'<document name="{doc.name}">\n{doc.text}\n</document>'
            blocks.append(SystemBlock(body, cache=i == last, label=f"document:{doc.name}",
                                      document=part))  # fmt: skip
        return tuple(blocks)

    @property
    def document(self) -> Document | None:
        """The last document loaded (None: none)."""
        return self.documents[-1] if self.documents else None

    def prefix_hash(self) -> str:
        """Identifies the cached system prefix (instruction + document)."""
        digest = hashlib.sha256()
        for block in self.system_blocks():
            digest.update(block.text.encode("utf-8"))
            digest.update(b"\x00")
        for doc in self.documents:
            if doc.data is not None:  # a PDF: its bytes, not only the text extracted
                digest.update(doc.sha256.encode())
        return digest.hexdigest()[:16]

    def history_messages(self, provider: str = "", model: str = "") -> list[Message]:
        """Every exchange before the last, as valid alternating messages for ``provider``'s
        ``model`` (which decides whether thinking blocks go back)."""
        messages: list[Message] = []
        for ex in self.exchanges[:-1]:
            if not has_content(ex.parts):
                continue  # failed before any text or tool call: leave the question out
            messages += ex.messages(provider, model)
        return merge_adjacent(messages)

    def build_request(
        self, model: str, *, ttl: CacheTTL = "5m", max_tokens: int = 4096, provider: str = "",
        thinking: Thinking = THINKING_OFF, tools: tuple[ToolSpec, ...] = (),
    ) -> ChatRequest:  # fmt: skip
        """The request for the last exchange, which must be pending (or between tool rounds:
        its parts so far, ending with tool results, follow the question)."""
        if not self.exchanges:
            raise ValueError("nothing to ask")
        last = self.exchanges[-1]
        current = (
            turn_messages(last.user, last.parts) if last.parts else [Message.of("user", last.user)]
        )
        messages = merge_adjacent([*self.history_messages(provider, model), *current])
        # Breakpoints: the last message writes; the one the previous request ended with
        # (two back: an answer came between) is read back.
        if len(messages) >= 3:
            prev = messages[-3]
            messages[-3] = Message(prev.role, prev.parts, cache=True)
        final = messages[-1]
        messages[-1] = Message(final.role, final.parts, cache=True)
        cache_key = None
        if provider == "openai":
            cache_key = f"chat-tui-{self.prefix_hash()}"
        return ChatRequest(
            model=model,
            system=self.system_blocks(),
            messages=tuple(messages),
            max_tokens=max_tokens,
            cache_ttl=ttl,
            cache_key=cache_key,
            thinking=thinking,
            tools=tools,
        )

    def to_markdown(self) -> str:
        """The whole conversation as Markdown, for export."""
        from chat_tui.core.sanitize import clean_text

        lines = [f"# {clean_text(self.title)}", ""]
        for doc in self.documents:
            lines += [f"_Reference document: {clean_text(doc.name)}_", ""]
        for ex in self.exchanges:
            lines += ["## You", "", clean_text(ex.user), ""]
            if ex.answer or ex.status != "pending":
                lines += ["## Assistant", ""]
                if ex.thinking:  # folded in the rendered Markdown, as in the pane
                    lines += ["<details><summary>Thinking</summary>", "",
                              clean_text(ex.thinking), "", "</details>", ""]  # fmt: skip
                lines.append(clean_text(ex.answer))
                if ex.status in CUT_NOTE:
                    lines += ["", f"_({ex.status}{': ' + clean_text(ex.note) if ex.note else ''})_"]
                lines.append("")
        return "\n".join(lines)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"
