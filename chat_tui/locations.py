"""Where chat-tui keeps its files (XDG base directories), each overridable by an env var.

Tests point all three at a temporary directory through the ``CHAT_TUI_*_DIR`` variables.
"""

from __future__ import annotations

import os
from pathlib import Path


def _base(var: str, xdg_var: str, fallback: str) -> Path:
    override = os.environ.get(var)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get(xdg_var)
    root = Path(xdg).expanduser() if xdg else Path.home() / fallback
    return root / "chat-tui"


def config_dir() -> Path:
    """Config file and user themes: ``$CHAT_TUI_CONFIG_DIR`` or ``~/.config/chat-tui``."""
    return _base("CHAT_TUI_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """The conversation database: ``$CHAT_TUI_DATA_DIR`` or ``~/.local/share/chat-tui``."""
    return _base("CHAT_TUI_DATA_DIR", "XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """Remembered UI state (theme, prompt history): ``$CHAT_TUI_STATE_DIR`` or
    ``~/.local/state/chat-tui``."""
    return _base("CHAT_TUI_STATE_DIR", "XDG_STATE_HOME", ".local/state")


def config_file() -> Path:
    """``$CHAT_TUI_CONFIG`` names another config file; tests and power users use it."""
    override = os.environ.get("CHAT_TUI_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"
