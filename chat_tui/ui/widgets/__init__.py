"""Widgets of the chat screen.

Import from the modules themselves (``chat_tui.ui.widgets.message_pane`` ...); this package
re-exports nothing so that importing one widget does not pull in all of them.
"""
