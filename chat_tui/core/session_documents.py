"""The session's document set: load and remove documents, estimate and count their tokens,
warn about limits, persist the set, bring it back on resume (saying which files changed on
disk), and, before an Anthropic turn, check the request limits and resolve Files API uploads.

Uploads: a document over ``documents.upload_bytes`` (or loaded with ``--upload``) is uploaded
once; its id is stored by sha256 and host with its expiry and reused across sessions and
``ask`` runs. A stored id is checked once a session; an expired or vanished one is uploaded
again. An upload that fails never fails the turn: the document then goes inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from chat_tui.core.document_set import (
    Loaded,
    check_anthropic_limits,
    document_notes,
    estimate_document_tokens,
    load_path,
)
from chat_tui.core.documents import Document, document_warnings, load_document
from chat_tui.errors import ChatTuiError
from chat_tui.providers.events import ChatRequest, Message, SystemBlock

if TYPE_CHECKING:
    from chat_tui.core.session import ChatSession
    from chat_tui.providers.anthropic_files import AnthropicFiles

MAX_COUNTED = 20  # documents counted one by one online; more are estimated


@dataclass
class DocumentInfo:
    document: Document
    tokens: int
    counted: bool = False  # True when the provider counted it, False for a local estimate
    warnings: list[str] = field(default_factory=list)


class DocumentShelf:
    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.items: list[DocumentInfo] = []
        self.notices: list[str] = []  # one-line notes from uploads, for the UI or CLI
        self._checked: set[str] = set()  # file ids confirmed on the server this session
        self._files: AnthropicFiles | None = None
        self.upload_default = False  # --upload: every document through the Files API
        self._rechecked = False  # a turn was just re-asked over a stale file id
        self._reading: list[asyncio.Event] = []  # documents being read: turns wait for them

    def reading(self) -> Callable[[], None]:
        """Documents are being read for the set (``--doc`` at start-up, in a thread): until
        the returned callable is called, a turn waits for them before its request is built
        (its question is stored first), so that a question typed at once is asked with them."""
        done = asyncio.Event()
        self._reading.append(done)
        return done.set

    @property
    def documents(self) -> list[Document]:
        return [i.document for i in self.items]

    def add(self, path: str | Path, *, upload: bool = False) -> Loaded:
        """Load a file or folder and add it to the set; a document with the same name is
        replaced (reloaded). Raises DocumentError."""
        return self.add_loaded(self.read(path), upload=upload)

    def read(self, path: str | Path) -> Loaded:
        """Only the reading (files, PDF text extraction): safe in a thread. Raises DocumentError."""
        s = self.session.settings
        return load_path(path, max_bytes=s.document_max_bytes, max_files=s.document_max_files)

    def add_loaded(self, loaded: Loaded, *, upload: bool = False) -> Loaded:
        """Add documents read by :meth:`read` to the set."""
        upload = upload or self.upload_default
        for doc in loaded.documents:
            doc = replace(doc, upload=upload) if upload else doc
            info = DocumentInfo(doc, estimate_document_tokens(doc, self.session.provider.kind))
            names = [i.document.name for i in self.items]
            if doc.name in names:
                self.items[names.index(doc.name)] = info
            else:
                self.items.append(info)
        self._changed()
        return loaded

    def set(self, docs: list[Document]) -> None:
        kind = self.session.provider.kind
        self.items = [DocumentInfo(d, estimate_document_tokens(d, kind)) for d in docs]
        self._changed()

    def remove(self, index: int) -> Document:
        info = self.items.pop(index)
        self._changed()
        return info.document

    def clear(self) -> None:
        self.items = []
        self._changed()

    def _changed(self) -> None:
        self.session.conversation.documents = self.documents
        self.refresh()
        self.persist()

    def refresh(self) -> None:
        """Estimates and warnings again, for the current provider and model."""
        kind = self.session.provider.kind
        info = self.session.model_info()
        for item in self.items:
            if not item.counted:
                item.tokens = estimate_document_tokens(item.document, kind)
            item.warnings = document_notes(item.document, kind)
        if self.items:
            # The cached prefix is the tools, the instruction and the documents together.
            prefix = self.total + self.session.tool_tokens()
            self.items[-1].warnings += document_warnings(prefix, info, provider=kind)

    @property
    def total(self) -> int:
        return sum(i.tokens for i in self.items)

    def persist(self) -> None:
        s = self.session
        if s.store is None or s.conversation.id is None:
            return
        from chat_tui.core.document_store import save_documents

        save_documents(s.store, s.conversation.id, self.documents)

    def restore(self, docs: list[Document]) -> list[str]:
        """A resumed conversation's set; one notice per file changed or gone on disk."""
        kind = self.session.provider.kind
        self.items = [DocumentInfo(d, estimate_document_tokens(d, kind)) for d in docs]
        self.session.conversation.documents = self.documents
        self.refresh()
        return [n for d in docs if (n := drift(d))]

    async def count(self) -> None:
        """Replace local estimates with the provider's counts (Anthropic count_tokens, with
        PDFs as document blocks): each document is the difference it makes to the prompt."""
        if not self.items or len(self.items) > MAX_COUNTED:
            return
        s = self.session
        try:
            client = await s.provider_client()
            base = await client.count_tokens(self._probe([]))
            if base is None:
                return
            items = list(self.items)
            for item in items:
                counted = await client.count_tokens(self._probe([item.document]))
                if counted is None:
                    return
                if item in self.items:
                    item.tokens, item.counted = max(0, counted - base), True
        except Exception:
            return
        self.refresh()

    def _probe(self, docs: list[Document]) -> ChatRequest:
        conv = replace(self.session.conversation, documents=docs, exchanges=[], file_ids={})
        blocks = conv.system_blocks()
        if not docs:
            blocks = (SystemBlock(blocks[0].text),)
        return ChatRequest(model=self.session.model, system=blocks,
                           messages=(Message.of("user", "."),))  # fmt: skip

    # -- before a turn ------------------------------------------------------------------

    async def before_turn(self) -> None:
        """Wait for documents being read, check Anthropic's limits and resolve uploads.
        Raises DocumentError (one line)."""
        while self._reading:
            await self._reading[0].wait()
            self._reading.pop(0)
        s = self.session
        conv = s.conversation
        if s.provider.kind != "anthropic" or not conv.documents:
            conv.file_ids = {}
            return
        threshold = s.settings.document_upload_bytes
        wanted = [d for d in conv.documents if d.upload or d.size_bytes > threshold]
        ids: dict[str, str] = {}
        for doc in wanted:
            file_id = await self._file_id(doc)
            if file_id is not None:
                ids[doc.sha256] = file_id
        check_anthropic_limits(conv.documents, s.model_info(), uploaded=set(ids))
        conv.file_ids = ids

    async def _file_id(self, doc: Document) -> str | None:
        from chat_tui.core.document_store import StoredUpload, find_upload, save_upload
        from chat_tui.core.faults import host_of
        from chat_tui.providers.anthropic_files import AnthropicFiles, FilesError

        s = self.session
        host = host_of(s.provider.base_url)
        if self._files is None:
            self._files = AnthropicFiles(s.provider)
        now = s.wall()
        stored = find_upload(s.store, host, doc.sha256) if s.store is not None else None
        try:
            if stored is not None and (stored.expires_at is None or stored.expires_at > now + 60):
                if stored.file_id in self._checked:
                    return stored.file_id
                if await self._files.lookup(stored.file_id) is not None:
                    self._checked.add(stored.file_id)
                    return stored.file_id
            data = doc.data if doc.data is not None else doc.text.encode("utf-8")
            remote = await self._files.upload(doc.path.name, data, doc.media_type)
        except FilesError as exc:
            self.notices.append(f"{exc}; {doc.name} goes inline this turn")
            return None
        self._checked.add(remote.id)
        if s.store is not None:
            save_upload(s.store, StoredUpload(host, doc.sha256, remote.id, doc.name,
                                              remote.size_bytes, now, remote.expires_at))  # fmt: skip
        self.notices.append(f"uploaded {doc.name} to the Files API ({remote.id})")
        return remote.id

    def stale_file(self, status: str, kind: object, error: str | None) -> bool:
        """True when a turn failed because the server does not know a file id it was sent
        (deleted since this session checked it): the ids are then checked again on the next
        request. Once a turn: a second failure is reported as it is."""
        from chat_tui.providers.events import ErrorKind

        ids = self.session.conversation.file_ids
        if status != "failed" or kind != ErrorKind.BAD_REQUEST or not ids or self._rechecked:
            self._rechecked = False
            return False
        text = (error or "").lower()
        if "file" not in text:
            return False
        self._checked -= set(ids.values())
        self._rechecked = True
        return True

    async def aclose(self) -> None:
        files, self._files = self._files, None
        if files is not None:
            await files.aclose()


def drift(doc: Document) -> str:
    """Say when the file a stored document came from has changed or gone since."""
    if not str(doc.path) or not doc.path.is_absolute():
        return ""
    try:
        current = load_document(doc.path, max_bytes=max(1, doc.path.stat().st_size))
    except (ChatTuiError, OSError):
        return f"{doc.name}: the file is gone or unreadable; using the copy stored with this conversation"
    if current.sha256 == doc.sha256:
        return ""
    return f"{doc.name} has changed on disk since; using the stored copy (ctrl+o reloads it)"
