"""Snapshot: the message pane with a user turn, a Markdown answer and a failed answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

APPS = Path(__file__).parent / "snapshot_apps"


def test_pane_conversation(snap_compare: Any) -> None:
    assert snap_compare(APPS / "pane_app.py", terminal_size=(100, 40))
