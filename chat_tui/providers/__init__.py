"""Wire protocols. Each module turns a provider-neutral :class:`ChatRequest` into an async
stream of provider-neutral events. Nothing here imports from ``chat_tui.core`` or ``chat_tui.ui``.
"""
