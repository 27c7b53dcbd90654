"""chat-tui: a terminal chat client for people who build with LLMs."""

__version__ = "0.1.0"
