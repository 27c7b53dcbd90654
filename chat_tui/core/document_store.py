"""Storing document sets and Files API uploads (tables from migration m008_documents).

Documents are deduplicated by sha256 in ``documents`` (a PDF with its bytes and the text
extracted); ``conversation_documents`` keeps each conversation's set in order, with the name
and path each was loaded under. ``uploads`` maps (host, sha256) to a Files API id and expiry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chat_tui.core.documents import Document
from chat_tui.core.storage import Store, _collect_documents


@dataclass(frozen=True)
class StoredUpload:
    host: str
    sha256: str
    file_id: str
    filename: str
    size_bytes: int
    uploaded_at: float
    expires_at: float | None


def save_documents(store: Store, conv_id: int, docs: Sequence[Document]) -> None:
    """Make ``docs`` (in order) the conversation's document set."""
    now = time.time()
    with store._writing() as db:
        for doc in docs:
            db.execute(
                "INSERT OR IGNORE INTO documents (sha256, name, path, text, size_bytes, encoding,"
                " loaded_at, media_type, data, pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.sha256, doc.name, str(doc.path), doc.text, doc.size_bytes, doc.encoding,
                 now, doc.media_type, doc.data, doc.pages),
            )  # fmt: skip
        db.execute("DELETE FROM conversation_documents WHERE conversation_id = ?", (conv_id,))
        db.executemany(
            "INSERT INTO conversation_documents (conversation_id, seq, sha256, name, path, source)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(conv_id, i, d.sha256, d.name, str(d.path), d.source) for i, d in enumerate(docs)],
        )
        db.execute(
            "UPDATE conversations SET document_sha256 = ?, updated_at = ? WHERE id = ?",
            (docs[-1].sha256 if docs else None, now, conv_id),
        )
        _collect_documents(db)


def load_documents(store: Store, conv_id: int) -> list[Document]:
    """The conversation's document set, in order (a conversation stored before sets existed,
    or by ``Store.set_document``, gives its one document)."""
    columns = "d.text, d.size_bytes, d.sha256, d.encoding, d.media_type, d.data, d.pages"
    with store._guard() as db:
        rows = db.execute(
            f"SELECT s.path, s.name, {columns}, s.source FROM conversation_documents s"
            " JOIN documents d ON d.sha256 = s.sha256 WHERE s.conversation_id = ? ORDER BY s.seq",
            (conv_id,),
        ).fetchall()
        if not rows:
            rows = db.execute(
                f"SELECT d.path, d.name, {columns}, '' FROM conversations c"
                " JOIN documents d ON d.sha256 = c.document_sha256 WHERE c.id = ?",
                (conv_id,),
            ).fetchall()
    return [
        Document(
            Path(path or name),
            name,
            text,
            size,
            sha,
            encoding,
            media_type=media,
            data=bytes(data) if data is not None else None,
            pages=pages,
            source=source,
        )
        for path, name, text, size, sha, encoding, media, data, pages, source in rows
    ]


# -- uploads -------------------------------------------------------------------------------------


def find_upload(store: Store, host: str, sha256: str) -> StoredUpload | None:
    with store._guard() as db:
        row = db.execute(
            "SELECT host, sha256, file_id, filename, size_bytes, uploaded_at, expires_at"
            " FROM uploads WHERE host = ? AND sha256 = ?",
            (host, sha256),
        ).fetchone()
    return StoredUpload(*row) if row is not None else None


def save_upload(store: Store, upload: StoredUpload) -> None:
    with store._writing() as db:
        db.execute(
            "INSERT OR REPLACE INTO uploads (host, sha256, file_id, filename, size_bytes,"
            " uploaded_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload.host, upload.sha256, upload.file_id, upload.filename, upload.size_bytes,
             upload.uploaded_at, upload.expires_at),
        )  # fmt: skip


def list_uploads(store: Store, host: str | None = None) -> list[StoredUpload]:
    where, args = (" WHERE host = ?", (host,)) if host is not None else ("", ())
    with store._guard() as db:
        rows = db.execute(
            "SELECT host, sha256, file_id, filename, size_bytes, uploaded_at, expires_at"
            f" FROM uploads{where} ORDER BY uploaded_at",
            args,
        ).fetchall()
    return [StoredUpload(*row) for row in rows]


def forget_upload(store: Store, file_id: str) -> None:
    with store._writing() as db:
        db.execute("DELETE FROM uploads WHERE file_id = ?", (file_id,))
