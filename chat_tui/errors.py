"""One exception tree. Every error carries a one-line message that says what happened and
what to do; the CLI and the UI show ``str(error)`` and nothing else (never a traceback).

    ChatTuiError
    ├── ConfigError        malformed config / .env, unknown provider, bad base URL
    ├── DocumentError      a reference document that cannot be loaded
    ├── StorageError       the conversation database cannot be opened or written
    ├── TurnError          a provider failure during a turn (wraps a ProviderError)
    └── BudgetError        a request that could pass the spending cap, refused before sending
"""

from __future__ import annotations


class ChatTuiError(Exception):
    """Base class. ``str(err)`` is the one line shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ChatTuiError):
    pass


class DocumentError(ChatTuiError):
    pass


class StorageError(ChatTuiError):
    pass


class TurnError(ChatTuiError):
    pass


class BudgetError(ChatTuiError):
    pass
