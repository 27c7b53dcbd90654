"""The Anthropic Files API on the loopback server: ``POST /v1/files`` (multipart upload),
``GET /v1/files`` (list), ``GET /v1/files/{id}`` (metadata), ``DELETE /v1/files/{id}``.

    files = LoopbackFiles(clock=lambda: now)
    server.routes.append(files.route)

Files expire at ``expires_at`` when set (``expire(file_id)`` ends one now; ``forget(file_id)``
removes one as if deleted on the server). ``uploads`` counts POSTs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.loopback import RecordedRequest, Scripted, Status


@dataclass
class StoredFile:
    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: float
    expires_at: float | None


class LoopbackFiles:
    def __init__(self, clock: Callable[[], float] = time.time, ttl_s: float | None = None) -> None:
        self.clock = clock
        self.ttl_s = ttl_s  # None: uploads do not expire
        self.files: dict[str, StoredFile] = {}
        self.uploads = 0
        self.beta_headers: list[str] = []

    def expire(self, file_id: str) -> None:
        self.files[file_id].expires_at = self.clock() - 1

    def forget(self, file_id: str) -> None:
        del self.files[file_id]

    def route(self, request: RecordedRequest) -> Scripted | None:
        if not request.path.startswith("/v1/files"):
            return None
        self.beta_headers.append(request.headers.get("anthropic-beta", ""))
        self._drop_expired()
        file_id = request.path.removeprefix("/v1/files").strip("/")
        if request.method == "POST" and not file_id:
            return self._upload(request)
        if request.method == "GET" and not file_id:
            data = [self._meta(f) for f in self.files.values()]
            return Status(200, {"data": data, "has_more": False, "first_id": None,
                                "last_id": None})  # fmt: skip
        found = self.files.get(file_id)
        if found is None:
            return Status(404, _error(f"File not found: {file_id}"))
        if request.method == "GET":
            return Status(200, self._meta(found))
        if request.method == "DELETE":
            del self.files[file_id]
            return Status(200, {"id": file_id, "type": "file_deleted"})
        return None

    def _drop_expired(self) -> None:
        now = self.clock()
        for fid in [
            k for k, f in self.files.items() if f.expires_at is not None and f.expires_at <= now
        ]:
            del self.files[fid]

    def _upload(self, request: RecordedRequest) -> Scripted:
        head, _, rest = request.raw.partition(b"\r\n\r\n")
        name = re.search(rb'filename="([^"]*)"', head)
        mime = re.search(rb"Content-Type: ([^\r\n]+)", head, re.I)
        boundary = request.headers.get("content-type", "").split("boundary=")[-1].strip('"')
        data = rest.rsplit(b"\r\n--" + boundary.encode(), 1)[0]
        self.uploads += 1
        now = self.clock()
        f = StoredFile(
            f"file_{self.uploads:04d}", name.group(1).decode() if name else "unnamed",
            mime.group(1).decode() if mime else "application/octet-stream", data, now,
            None if self.ttl_s is None else now + self.ttl_s,
        )  # fmt: skip
        self.files[f.id] = f
        return Status(200, self._meta(f))

    @staticmethod
    def _meta(f: StoredFile) -> dict[str, Any]:
        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

        return {
            "id": f.id, "type": "file", "filename": f.filename, "mime_type": f.mime_type,
            "size_bytes": len(f.data), "created_at": iso(f.created_at), "downloadable": False,
            "expires_at": None if f.expires_at is None else iso(f.expires_at),
        }  # fmt: skip


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "not_found_error", "message": message}}
