"""The model table: snapshot resolution, local models, unknown models, user overrides."""

from __future__ import annotations

from typing import Any

import pytest

from chat_tui.core.models import (
    ModelInfo,
    base_model_name,
    known_models,
    lookup_model,
    validate_overrides,
)


def test_haiku_4_5_facts() -> None:
    info = lookup_model("anthropic", "claude-haiku-4-5")
    assert info == ModelInfo(
        "claude-haiku-4-5", 1.0, 5.0, 1.25, 2.0, 0.10, 4096, 200_000, thinking="budget"
    )


@pytest.mark.parametrize(
    ("provider", "model", "name", "input_price"),
    [
        ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5", 1.0),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", 3.0),
        ("anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5", 5.0),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1", 15.0),
        ("anthropic", "claude-opus-4-20250514", "claude-opus-4", 15.0),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4", 3.0),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku", 0.80),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", 0.40),
        ("openai", "gpt-4.1-2025-04-14", "gpt-4.1", 2.0),
        ("openai", "gpt-5-nano-2025-08-07", "gpt-5-nano", 0.05),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o", 2.50),
        # An exact entry beats snapshot stripping: the first gpt-4o snapshot kept its price.
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13", 5.0),
    ],
)
def test_snapshots_and_aliases_resolve(
    provider: str, model: str, name: str, input_price: float
) -> None:
    info = lookup_model(provider, model)
    assert info is not None
    assert (info.name, info.input) == (name, input_price)


def test_base_model_name() -> None:
    assert base_model_name("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert base_model_name("gpt-4.1-mini-2025-04-14") == "gpt-4.1-mini"
    assert base_model_name("gpt-4.1-mini") == "gpt-4.1-mini"
    assert base_model_name("llama3.2:3b") == "llama3.2:3b"


def test_ollama_is_local_and_free_not_unknown() -> None:
    info = lookup_model("ollama", "llama3.2")
    assert info is not None
    assert info.local and info.name == "llama3.2"
    prices = (info.input, info.output, info.cache_write_5m, info.cache_write_1h, info.cache_read)
    assert prices == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert info.min_cache_tokens is None and info.context_window is None


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-unknown-9"),
        ("openai", "my-finetune"),
        ("openai", "claude-haiku-4-5"),  # a model is looked up under its own provider only
        ("anthropic", "gpt-4o"),
        ("vllm", "gpt-4o"),
    ],
)
def test_unknown_model_is_none(provider: str, model: str) -> None:
    assert lookup_model(provider, model) is None


def test_table_is_consistent() -> None:
    """Anthropic: writes 1.25x / 2x input, reads 0.1x. OpenAI: no write premium, cheaper reads."""
    assert {"claude-haiku-4-5", "claude-3-5-haiku", "claude-opus-4-5"} <= set(
        known_models("anthropic")
    )
    assert {"gpt-5", "gpt-4.1-nano", "gpt-4o-mini"} <= set(known_models("openai"))
    for name in known_models("anthropic"):
        info = lookup_model("anthropic", name)
        assert info is not None and info.context_window == 200_000
        assert info.cache_write_5m == pytest.approx(1.25 * info.input), name
        assert info.cache_write_1h == pytest.approx(2 * info.input), name
        assert info.cache_read == pytest.approx(0.1 * info.input), name
        assert info.min_cache_tokens in (1024, 2048, 4096), name
    for name in known_models("openai"):
        info = lookup_model("openai", name)
        assert info is not None and info.context_window is not None
        if info.cache_read is not None:
            assert info.cache_write_5m == info.cache_write_1h == info.input, name
            assert info.cache_read < info.input, name
            assert info.min_cache_tokens == 1024, name
    assert lookup_model("anthropic", "claude-opus-4-5").min_cache_tokens == 4096  # type: ignore[union-attr]
    assert lookup_model("anthropic", "claude-sonnet-4-5").min_cache_tokens == 1024  # type: ignore[union-attr]


def test_override_replaces_fields_of_a_known_model() -> None:
    overrides = {"claude-haiku-4-5": {"input": 2, "min_cache_tokens": 2048}}
    info = lookup_model("anthropic", "claude-haiku-4-5-20251001", overrides)
    assert info is not None
    assert (info.name, info.input, info.min_cache_tokens) == ("claude-haiku-4-5", 2.0, 2048)
    assert isinstance(info.input, float)
    assert info.output == 5.0  # untouched
    # The built-in table itself is unchanged.
    assert lookup_model("anthropic", "claude-haiku-4-5").input == 1.0  # type: ignore[union-attr]


def test_override_keyed_by_the_dated_name_wins_over_base_name() -> None:
    overrides = {
        "gpt-4.1-mini": {"input": 0.5},
        "gpt-4.1-mini-2025-04-14": {"input": 0.6},
    }
    info = lookup_model("openai", "gpt-4.1-mini-2025-04-14", overrides)
    assert info is not None and info.input == 0.6
    other = lookup_model("openai", "gpt-4.1-mini", overrides)
    assert other is not None and other.input == 0.5


def test_override_adds_a_model() -> None:
    overrides = {"my-vllm-model": {"input": 0.2, "output": 0.4, "context_window": 32768}}
    info = lookup_model("openai", "my-vllm-model", overrides)
    assert info == ModelInfo("my-vllm-model", 0.2, 0.4, None, None, None, None, 32768)


def test_override_for_ollama_keeps_it_local() -> None:
    info = lookup_model("ollama", "llama3.2", {"llama3.2": {"context_window": 32768}})
    assert info is not None
    assert info.local and info.input == 0.0 and info.context_window == 32768


def test_override_for_another_model_is_ignored() -> None:
    info = lookup_model("anthropic", "claude-haiku-4-5", {"gpt-4o": {"input": 99}})
    assert info is not None and info.input == 1.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"input": "1.0"}, "input"),
        ({"input": -1}, "input"),
        ({"output": True}, "output"),
        ({"cache_read": float("nan")}, "cache_read"),
        ({"min_cache_tokens": 1024.5}, "min_cache_tokens"),
        ({"context_window": 0}, "context_window"),
        ({"local": "yes"}, "local"),
        ({"inptu": 1.0}, "inptu"),
    ],
)
def test_bad_override_names_model_and_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"'claude-haiku-4-5'.*'{field}'"):
        lookup_model("anthropic", "claude-haiku-4-5", {"claude-haiku-4-5": fields})
    with pytest.raises(ValueError, match=rf"'claude-haiku-4-5'.*'{field}'"):
        validate_overrides({"claude-haiku-4-5": fields})


def test_new_model_override_must_give_prices() -> None:
    with pytest.raises(ValueError, match=r"'mystery'.*output"):
        lookup_model("openai", "mystery", {"mystery": {"input": 1.0}})


def test_override_must_be_a_table() -> None:
    with pytest.raises(ValueError, match="'gpt-4o'"):
        lookup_model("openai", "gpt-4o", {"gpt-4o": 3})  # type: ignore[dict-item]


def test_cache_write_price_by_ttl() -> None:
    info = lookup_model("anthropic", "claude-opus-4-5")
    assert info is not None
    assert (info.cache_write_price("5m"), info.cache_write_price("1h")) == (6.25, 10.0)
    with pytest.raises(ValueError):
        info.cache_write_price("10m")
