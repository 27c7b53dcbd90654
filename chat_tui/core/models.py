"""Model facts (prices, cache minimum, context window) from ``models.toml`` plus user overrides.

Prices are USD per million tokens. ``lookup_model`` returns ``None`` for a model it knows
nothing about: its cost is *unknown*, which is not the same as free.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
LIMIT_FIELDS = ("min_cache_tokens", "context_window")
THINKING_FIELDS = ("thinking", "thinking_display")
THINKING_STYLES = ("budget", "adaptive", "effort", "none")
THINKING_DISPLAYS = ("summarized", "omitted")
FIELDS = (*PRICE_FIELDS, *LIMIT_FIELDS, "local", *THINKING_FIELDS)

# Dated snapshots: Anthropic "-20251001", OpenAI "-2025-04-14".
_SNAPSHOT = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class ModelInfo:
    """Facts about one model. A ``None`` price means the model has no such tier (or it is
    unknown); ``local`` models run on the user's machine and cost nothing."""

    name: str
    input: float
    output: float
    cache_write_5m: float | None
    cache_write_1h: float | None
    cache_read: float | None
    min_cache_tokens: int | None
    context_window: int | None
    local: bool = False
    # How the model takes thinking (see models.toml) and the display it defaults to.
    thinking: str = "none"
    thinking_display: str = "summarized"

    def cache_write_price(self, ttl: str) -> float | None:
        """The cache-write price for a TTL ("5m" or "1h")."""
        if ttl == "5m":
            return self.cache_write_5m
        if ttl == "1h":
            return self.cache_write_1h
        raise ValueError(f"unknown cache TTL {ttl!r}: use '5m' or '1h'")


def base_model_name(model: str) -> str:
    """``claude-haiku-4-5-20251001`` → ``claude-haiku-4-5``; other names unchanged."""
    return _SNAPSHOT.sub("", model)


def lookup_model(
    provider: str,
    model: str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ModelInfo | None:
    """Facts for ``model`` served by ``provider``, or None when unknown.

    Ollama models are local: every price is 0.0 and the limits are unknown. ``overrides``
    (the user's config, keyed by model name, base or dated) replace fields of a known model
    or add a new one (which must then give ``input`` and ``output``). Raises ValueError on
    a badly typed override.
    """
    base_name = base_model_name(model)
    info: ModelInfo | None
    if provider == "ollama":
        info = ModelInfo(model, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, local=True)
    else:
        known = _table().get(provider, {})
        info = known.get(model) or known.get(base_name)
    if overrides:
        # Layered: overrides for the canonical name, then the base name, then the exact name.
        names = (info.name if info else None, base_name, model)
        for key in dict.fromkeys(n for n in names if n):
            if key in overrides:
                info = _build(key, overrides[key], info)
    return info


def validate_overrides(overrides: Mapping[str, Any]) -> None:
    """Check every override's field names and types (call at config load). Raises ValueError."""
    for name, fields in overrides.items():
        _fields(name, fields)


def known_models(provider: str) -> tuple[str, ...]:
    """Canonical names of the built-in models for a provider (aliases excluded)."""
    return tuple(sorted({info.name for info in _table().get(provider, {}).values()}))


@functools.cache
def _table() -> dict[str, dict[str, ModelInfo]]:
    text = resources.files("chat_tui.core").joinpath("models.toml").read_text(encoding="utf-8")
    table: dict[str, dict[str, ModelInfo]] = {}
    for provider, models in tomllib.loads(text).items():
        entries: dict[str, ModelInfo] = {}
        for name, raw in models.items():
            fields = dict(raw)
            aliases = fields.pop("aliases", [])
            info = _build(name, fields, None)
            for key in (name, *aliases):
                entries[key] = info
        table[provider] = entries
    return table


def _build(name: str, raw: Any, base: ModelInfo | None) -> ModelInfo:
    fields = _fields(name, raw)
    if base is not None:
        return replace(base, **fields)
    missing = [f for f in ("input", "output") if f not in fields]
    if missing:
        raise ValueError(
            f"model {name!r} is not a built-in model, so its settings must give "
            f"{' and '.join(missing)} (USD per million tokens)"
        )
    values: dict[str, Any] = {f: None for f in (*PRICE_FIELDS, *LIMIT_FIELDS)}
    values.update(fields)
    return ModelInfo(name=name, **values)


def _fields(name: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"model {name!r}: expected a table of fields, got {raw!r}")
    return {field: _check(name, str(field), value) for field, value in raw.items()}


def _check(name: str, field: str, value: Any) -> Any:
    where = f"model {name!r}, field {field!r}"
    if field in PRICE_FIELDS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{where}: expected a non-negative number (USD per million tokens), got {value!r}"
            )
        return float(value)
    if field in LIMIT_FIELDS:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{where}: expected a positive whole number of tokens, got {value!r}")
        return value
    if field in THINKING_FIELDS:
        allowed = THINKING_STYLES if field == "thinking" else THINKING_DISPLAYS
        if value not in allowed:
            raise ValueError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
        return value
    if field == "local":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    raise ValueError(f"{where}: unknown field; known fields are {', '.join(FIELDS)}")
