"""Pure-Python core: model facts, pricing, metrics, documents and output sanitising.

Nothing in this package imports a UI toolkit or a provider SDK.
"""
