"""Anthropic Files API (beta ``files-api-2025-04-14``): upload a document once, refer to it by
id, look it up, list and delete uploads. Through the official SDK (``client.beta.files``),
on the same client as the chat stream.

Every call raises :class:`FilesError` (one line) on failure; :meth:`AnthropicFiles.lookup`
returns None when the server says the file is gone (404), so a caller can upload again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_tui.providers.anthropic import FILES_BETA, AnthropicProvider
from chat_tui.providers.base import ProviderSettings


class FilesError(Exception):
    """A Files API call failed; the message is one line and says what to do."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    id: str
    filename: str
    size_bytes: int
    created_at: float  # epoch seconds
    expires_at: float | None  # None: does not expire


class AnthropicFiles:
    def __init__(self, settings: ProviderSettings) -> None:
        self._provider = AnthropicProvider(settings)

    async def upload(self, filename: str, data: bytes, media_type: str) -> RemoteFile:
        client = self._provider._get_client()
        try:
            meta = await client.beta.files.upload(
                file=(filename, data, media_type), betas=[FILES_BETA]
            )
        except Exception as exc:
            raise FilesError(self._line("upload of " + filename, exc)) from None
        return _remote(meta)

    async def lookup(self, file_id: str) -> RemoteFile | None:
        """The file's metadata, or None when the server no longer has it."""
        import anthropic

        client = self._provider._get_client()
        try:
            meta = await client.beta.files.retrieve_metadata(file_id, betas=[FILES_BETA])
        except anthropic.NotFoundError:
            return None
        except Exception as exc:
            raise FilesError(self._line("lookup of " + file_id, exc)) from None
        return _remote(meta)

    async def list(self) -> list[RemoteFile]:
        client = self._provider._get_client()
        try:
            return [_remote(m) async for m in client.beta.files.list(betas=[FILES_BETA])]
        except Exception as exc:
            raise FilesError(self._line("listing files", exc)) from None

    async def delete(self, file_id: str) -> bool:
        """Delete the file; False when it was already gone."""
        import anthropic

        client = self._provider._get_client()
        try:
            await client.beta.files.delete(file_id, betas=[FILES_BETA])
        except anthropic.NotFoundError:
            return False
        except Exception as exc:
            raise FilesError(self._line("deleting " + file_id, exc)) from None
        return True

    def _line(self, what: str, exc: Exception) -> str:
        from chat_tui.providers._common import one_line

        detail = one_line(f"{type(exc).__name__}: {exc}", self._provider.settings.api_key or "")
        return f"Files API {what} failed at {self._provider._where} ({detail})"

    async def aclose(self) -> None:
        await self._provider.aclose()


def _remote(meta: Any) -> RemoteFile:
    expires = meta.expires_at.timestamp() if meta.expires_at is not None else None
    return RemoteFile(meta.id, meta.filename, meta.size_bytes, meta.created_at.timestamp(), expires)
