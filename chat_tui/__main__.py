"""``python -m chat_tui`` runs the same entry point as the ``chat-tui`` script."""

from chat_tui.cli import main

raise SystemExit(main())
