"""Make model output inert for a terminal.

Model text could carry terminal control: ANSI CSI (``ESC [``, or the 8-bit ``\\x9b``), OSC
(``ESC ]`` — window titles, OSC 52 clipboard writes, hyperlinks), DCS, ``ESC c`` (reset),
BEL, backspace overwrites... Every such sequence starts with a control character, so
``clean_text`` maps *each control character on its own* to a visible stand-in and leaves
the rest of the sequence as plain, harmless text (``ESC ]52;c;...`` shows as ``␛]52;c;...``).

Why per character, not per sequence: it makes cleaning chunk-safe. An escape split across
two streamed chunks cannot become live, since its ESC is replaced in whichever chunk holds
it, and ``clean_text(a + b) == clean_text(a) + clean_text(b)`` for any split. CR is simply
dropped (so CRLF becomes LF and a lone CR cannot overwrite a line), which keeps that
property even when a CRLF is split.

Only terminal control is handled here. Rich/Textual markup such as ``[bold]`` is text as
far as the terminal is concerned; the UI must escape it when it renders.
"""

from __future__ import annotations

import re

# C0 controls become Unicode "control pictures" (U+2400 + code: ␀ ␇ ␈ ␛ ...), DEL becomes ␡,
# C1 controls (U+0080-U+009F, including CSI U+009B) become U+FFFD. Tab and LF stay, CR goes.
_TABLE: dict[int, str | None] = {c: chr(0x2400 + c) for c in range(0x20)}
_TABLE.update({0x7F: "\u2421", **{c: "\ufffd" for c in range(0x80, 0xA0)}})
_TABLE.update({ord("\t"): "\t", ord("\n"): "\n", ord("\r"): None})

_NEEDS_CLEANING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(s: str) -> str:
    """Return ``s`` with every control character except tab and LF neutralised (see above)."""
    if _NEEDS_CLEANING.search(s) is None:  # the common case: nothing to do
        return s
    return s.translate(_TABLE)
