"""chat-tui performance benchmarks: ``python benchmarks/run.py`` runs them all (see run.py)."""
