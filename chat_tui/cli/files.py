"""``chat-tui files``: the documents uploaded to Anthropic's Files API (stored by sha256 and
reused across sessions and ``ask`` runs). ``--delete`` deletes them, on the server and in the
local table; ``--delete FILE_ID`` deletes one."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING

from chat_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err, open_store

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.document_store import StoredUpload
    from chat_tui.core.storage import Store
    from chat_tui.providers.base import ProviderSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "files", help="list (or --delete) documents uploaded to the Anthropic Files API",
        description="The documents chat-tui uploaded to Anthropic's Files API, reused by "
        "sha256 across sessions. --delete removes them there and here.",
    )  # fmt: skip
    p.add_argument("--delete", nargs="?", const="all", metavar="FILE_ID",
                   help="delete every upload, or only FILE_ID")  # fmt: skip
    p.add_argument("--base-url", help="Anthropic base URL (default: the configured one)")
    p.add_argument("--data-dir", metavar="DIR", help="where conversations are stored")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from chat_tui.core.document_store import list_uploads
    from chat_tui.core.faults import host_of

    provider = settings.provider_settings("anthropic")
    host = host_of(provider.base_url)
    with open_store(settings) as store:
        uploads = list_uploads(store, host)
        if args.delete is None:
            _print(uploads, host)
            return EXIT_OK
        if args.delete != "all":
            uploads = [u for u in uploads if u.file_id == args.delete]
            if not uploads:
                err(f"chat-tui files: no upload {args.delete} at {host}; run chat-tui files")
                return EXIT_USAGE
        if not uploads:
            print(f"no uploads at {host}: nothing to delete")
            return EXIT_OK
        if not provider.api_key:
            err("chat-tui files: no Anthropic key: set ANTHROPIC_API_KEY to delete uploads")
            return EXIT_USAGE
        return asyncio.run(_delete(store, provider, uploads))


async def _delete(store: Store, provider: ProviderSettings, uploads: list[StoredUpload]) -> int:
    from chat_tui.core.document_store import forget_upload
    from chat_tui.providers.anthropic_files import AnthropicFiles, FilesError

    files = AnthropicFiles(provider)
    status = EXIT_OK
    try:
        for u in uploads:
            try:
                existed = await files.delete(u.file_id)
            except FilesError as exc:
                err(f"chat-tui files: {exc}")
                status = EXIT_FAILED
                continue
            forget_upload(store, u.file_id)
            print(f"deleted {u.file_id} ({u.filename}){'' if existed else ' (already gone)'}")
    finally:
        await files.aclose()
    return status


def _print(uploads: list[StoredUpload], host: str) -> None:
    if not uploads:
        print(f"no uploads at {host}")
        return
    now = time.time()
    for u in uploads:
        if u.expires_at is None:
            expiry = "no expiry"
        elif u.expires_at <= now:
            expiry = "expired"
        else:
            expiry = "expires " + time.strftime("%Y-%m-%d %H:%M", time.localtime(u.expires_at))
        uploaded = time.strftime("%Y-%m-%d %H:%M", time.localtime(u.uploaded_at))
        print(f"{u.file_id}  {u.filename}  {u.size_bytes:,} bytes  uploaded {uploaded}  {expiry}")
    print(f"{len(uploads)} upload(s) at {host}; chat-tui files --delete removes them")
