"""Loading a reference document as text, estimating its tokens, and warning about limits."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from chat_tui.core.models import ModelInfo
from chat_tui.errors import DocumentError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# Above this share of control characters a file is binary, not text. Real text has ~0;
# random binary data has ~10%. ESC, tab, CR, LF and form feed do not count (ANSI-coloured
# logs are text).
BINARY_CONTROL_RATIO = 0.05
# cp1252 is accepted only for mostly-ASCII text: if more than this share of the characters
# decode to non-ASCII, the file is in some other legacy encoding (cp1251, GBK, ...) and
# cp1252 would silently garble it.
CP1252_MAX_NON_ASCII = 0.25
OLLAMA_SMALL_CONTEXT = 4096

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
)
_CONTROL_BYTES = bytes([*range(0x01, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Han, kana, Hangul and full-width forms. Compiled on the first non-ASCII text, not at import:
# the character class spans 200,000 code points and takes ~8 ms to compile (start-up matters).
_CJK_CLASS = (
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]"
)


@functools.cache
def _cjk() -> re.Pattern[str]:
    return re.compile(_CJK_CLASS)


@dataclass(frozen=True)
class Document:
    """A loaded document. ``text`` has LF line endings and no BOM; ``sha256`` is of that text
    (UTF-8), so it identifies what the model sees; ``size_bytes`` is the file's size on disk;
    ``encoding`` is the codec used: utf-8, utf-8-sig, utf-16, utf-32 or cp1252.

    A PDF (``media_type`` application/pdf) also has its bytes in ``data``, its page count in
    ``pages`` and, as ``text``, the text pypdf extracted with the pages marked; its ``sha256``
    is of the bytes. ``source`` names the folder a document came from ("" for a single file);
    ``upload`` asks for the provider's Files API (``--upload``)."""

    path: Path
    name: str
    text: str
    size_bytes: int
    sha256: str
    encoding: str
    media_type: str = "text/plain"
    data: bytes | None = field(default=None, repr=False, compare=False)
    pages: int | None = None
    source: str = ""
    upload: bool = False

    @property
    def kind(self) -> str:
        """ "pdf" or "text" (what ``ask --json`` reports)."""
        return "pdf" if self.media_type == "application/pdf" else "text"


def load_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read a text file. Raises DocumentError (one line: the file, the reason, what to do)."""
    p = Path(path)
    with contextlib.suppress(RuntimeError):  # RuntimeError: no home directory for "~"
        p = p.expanduser()
    shown = _shown(p)
    if p.suffix.lower() == ".pdf":
        from chat_tui.core.pdf import load_pdf

        return load_pdf(p, shown)
    data = _read(p, shown, max_bytes)
    if not data:
        raise DocumentError(f"{shown} is empty; choose a file with some text in it")
    text, encoding = _decode(data, shown)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentError(f"{shown} contains only whitespace; choose a file with some text in it")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(p.resolve(), p.name, text, len(data), digest, encoding)


def estimate_tokens(text: str) -> int:
    """A fast local token estimate, no tokenizer.

    ASCII: 4 characters a token. CJK (Han, kana, Hangul, full-width forms): 1 token each.
    Other non-ASCII (accented Latin, Cyrillic, Greek, ...): 2 characters a token. Counting is
    done by C-level str/regex operations, so megabytes take milliseconds.
    """
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / 4)
    n = len(text)
    ascii_n = len(text.encode("ascii", "ignore"))
    cjk = n - len(_cjk().sub("", text))
    other = n - ascii_n - cjk
    return math.ceil(ascii_n / 4 + other / 2 + cjk)


def document_warnings(tokens: int, info: ModelInfo | None, *, provider: str) -> list[str]:
    """One-line warnings about a document of ``tokens`` tokens on this model."""
    warnings: list[str] = []
    minimum = info.min_cache_tokens if info is not None and not info.local else None
    if info is not None and minimum is not None and tokens < minimum:
        warnings.append(
            f"{tokens:,} tokens is below {info.name}'s {minimum:,}-token "
            "cache minimum: requests work but nothing will be cached"
        )
    window = info.context_window if info is not None else None
    if provider == "ollama":
        if window is None and tokens > OLLAMA_SMALL_CONTEXT // 2:
            warnings.append(
                f"{tokens:,} tokens may not fit Ollama's default context window (as small as "
                f"{OLLAMA_SMALL_CONTEXT:,} tokens) and Ollama cuts long prompts silently: "
                f"start the server with OLLAMA_CONTEXT_LENGTH={_ollama_context(tokens)}"
            )
        elif window is not None and tokens > window:
            warnings.append(
                f"{tokens:,} tokens is more than the {window:,}-token context window set for "
                f"{info.name if info else 'this model'} and Ollama cuts long prompts silently: "
                f"start the server with OLLAMA_CONTEXT_LENGTH={_ollama_context(tokens)}"
            )
    elif info is not None and window is not None and tokens > window:
        warnings.append(
            f"{tokens:,} tokens is more than {info.name}'s {window:,}-token context window: "
            "requests will be rejected; use a shorter document or a larger model"
        )
    return warnings


def _ollama_context(tokens: int) -> int:
    """A power of two with room for the document plus a conversation."""
    return max(8192, 1 << math.ceil(math.log2(tokens * 1.25 + 2048)))


def shown_path(p: Path) -> str:
    return _shown(p)


def _shown(p: Path) -> str:
    """The path for a one-line message: control characters masked, quoted if it has spaces."""
    s = _ANY_CONTROL.sub("?", str(p))
    return f'"{s}"' if " " in s else s


def read_file(p: Path, shown: str, max_bytes: int) -> bytes:
    return _read(p, shown, max_bytes)


def _read(p: Path, shown: str, max_bytes: int) -> bytes:
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise DocumentError(f"{shown} is a directory; give the path of a file inside it")
        if not stat.S_ISREG(st.st_mode):
            raise DocumentError(f"{shown} is not a regular file; give the path of a text file")
        if st.st_size > max_bytes:
            raise _too_big(shown, st.st_size, max_bytes)
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise DocumentError(f"{shown}: no such file; check the path") from None
    except PermissionError:
        raise DocumentError(
            f"{shown}: permission denied; check the file's permissions (e.g. chmod u+r)"
        ) from None
    except OSError as e:
        raise DocumentError(f"{shown} cannot be read ({e.strerror or e}); check the file") from None
    if len(data) > max_bytes:  # grew since stat()
        raise _too_big(shown, len(data), max_bytes)
    return data


def _too_big(shown: str, size: int, cap: int) -> DocumentError:
    return DocumentError(
        f"{shown} is {_mb(size)}, over the {_mb(cap)} document limit; use a smaller file "
        f"or raise documents.max_bytes in the config (now {cap:,} bytes)"
    )


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 100 * 1024 else f"{n:,} bytes"


def _decode(data: bytes, shown: str) -> tuple[str, str]:
    binary = DocumentError(
        f"{shown} looks like a binary file, not text; convert it to plain text first"
    )
    not_utf8 = DocumentError(f"{shown} is not UTF-8 text; convert it with iconv -t UTF-8")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                label = codec.removesuffix("-sig").upper()
                raise DocumentError(
                    f"{shown} starts with a {label} byte-order mark but is not valid {label}; "
                    "convert it with iconv -t UTF-8"
                ) from None
            if text and len(_CONTROL_CHARS.findall(text)) > BINARY_CONTROL_RATIO * len(text):
                raise binary
            return text, codec
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if b"\x00" in data or controls > BINARY_CONTROL_RATIO * len(data):
        raise binary
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined: 81 8D 8F 90 9D
        raise not_utf8 from None
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii > CP1252_MAX_NON_ASCII * len(text):
        raise not_utf8
    return text, "cp1252"
