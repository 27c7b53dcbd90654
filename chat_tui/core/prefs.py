"""Small remembered UI state: the chosen theme and the history of sent prompts.

Kept as JSON in the state directory. A missing or damaged file means defaults, never an error:
losing a preference is better than refusing to start.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from chat_tui import locations

HISTORY_LIMIT = 500


@dataclass
class Prefs:
    theme: str | None = None
    history: list[str] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Prefs:
        path = path or locations.state_dir() / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path=path)
        if not isinstance(data, dict):
            return cls(path=path)
        theme = data.get("theme")
        history = data.get("history")
        return cls(
            theme=theme if isinstance(theme, str) else None,
            history=[h for h in history if isinstance(h, str)] if isinstance(history, list) else [],
            path=path,
        )

    def remember_prompt(self, text: str) -> None:
        if not text.strip():
            return
        if self.history and self.history[-1] == text:
            return
        self.history.append(text)
        del self.history[:-HISTORY_LIMIT]

    def save(self) -> None:
        """Write atomically with owner-only permissions; failures are ignored (see above)."""
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"theme": self.theme, "history": self.history}, fh)
            os.replace(tmp, self.path)
