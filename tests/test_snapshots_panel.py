"""Snapshot: the metrics panel with a warm cache after a cache-read turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

APPS = Path(__file__).parent / "snapshot_apps"


def test_panel_warm_cache_after_cache_read(snap_compare: Any) -> None:
    assert snap_compare(APPS / "panel_app.py", terminal_size=(90, 46))
