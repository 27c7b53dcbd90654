"""Settings layering and the one-line errors for bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_tui.config import load_settings
from chat_tui.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_pick_ollama_when_nothing_is_configured(tmp_path: Path) -> None:
    s = load_settings(environ={}, cwd=tmp_path)
    assert s.configured_providers() == ["ollama"]
    p = s.provider_settings(s.default_provider())
    assert p.base_url == "http://localhost:11434/v1"
    assert p.model == "qwen2.5:3b"


def test_first_configured_provider_wins(tmp_path: Path) -> None:
    s = load_settings(environ={"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a"}, cwd=tmp_path)
    assert s.configured_providers() == ["anthropic", "openai"]
    assert s.default_provider() == "anthropic"
    s = load_settings(environ={"OPENAI_API_KEY": "sk-o"}, cwd=tmp_path)
    assert s.default_provider() == "openai"


def test_layering_flags_over_env_over_dotenv_over_file(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "cfg.toml", 'cache_ttl = "1h"\n[providers.anthropic]\nmodel = "file-model"\n'
                 'base_url = "http://file:1"\n')  # fmt: skip
    _write(tmp_path / ".env", "ANTHROPIC_API_KEY=from-dotenv\nANTHROPIC_BASE_URL=http://dotenv:2\n")
    env = {"CHAT_TUI_CONFIG": str(cfg), "ANTHROPIC_BASE_URL": "http://env:3"}
    s = load_settings(environ=env, cwd=tmp_path)
    assert s.anthropic_api_key == "from-dotenv"
    assert s.anthropic_base_url == "http://env:3"  # the real environment beats .env
    assert s.models["anthropic"] == "file-model"
    assert s.cache_ttl == "1h"
    s = load_settings({"model": "flag-model", "ttl": "5m"}, environ=env, cwd=tmp_path)
    assert s.models["anthropic"] == "flag-model" and s.cache_ttl == "5m"


def test_keys_never_in_repr(tmp_path: Path) -> None:
    s = load_settings(environ={"ANTHROPIC_API_KEY": "sk-ant-SECRET"}, cwd=tmp_path)
    assert "SECRET" not in repr(s)
    assert "SECRET" not in repr(s.provider_settings("anthropic"))
    assert "SECRET" not in str(s.provider_settings("anthropic"))


def test_ollama_host_without_scheme_is_accepted(tmp_path: Path) -> None:
    s = load_settings(environ={"OLLAMA_HOST": "gpu-box:11434"}, cwd=tmp_path)
    assert s.provider_settings("ollama").base_url == "http://gpu-box:11434/v1"


@pytest.mark.parametrize(
    ("env", "files", "needle"),
    [
        ({"OPENAI_BASE_URL": "localhost:8000/v1"}, {}, "OPENAI_BASE_URL"),
        ({"CHAT_TUI_PROVIDER": "gemini"}, {}, "unknown provider 'gemini'"),
        ({}, {"cfg.toml": "max_tokens = 10\na = = 1\n"}, "line 2"),
        ({}, {"cfg.toml": 'provider = "x"\n'}, "unknown provider 'x'"),
        ({}, {"cfg.toml": "colour = 1\n"}, "unknown setting 'colour'"),
        ({}, {"cfg.toml": 'max_tokens = "lots"\n'}, "max_tokens"),
        ({}, {".env": "A=1\nthis is not valid\n"}, "line 2"),
    ],
)
def test_bad_config_is_one_line_naming_the_place(
    tmp_path: Path, env: dict[str, str], files: dict[str, str], needle: str
) -> None:
    for name, text in files.items():
        _write(tmp_path / name, text)
    env = {**env, "CHAT_TUI_CONFIG": str(tmp_path / "cfg.toml")}
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env, cwd=tmp_path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_price_overrides_are_validated(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "cfg.toml", '[models."my-model"]\ninput = "cheap"\noutput = 1.0\n')
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"CHAT_TUI_CONFIG": str(cfg)}, cwd=tmp_path)
    assert "my-model" in str(info.value) and "input" in str(info.value)
    cfg.write_text('[models."my-model"]\ninput = 2.0\noutput = 8.0\n', encoding="utf-8")
    s = load_settings(environ={"CHAT_TUI_CONFIG": str(cfg)}, cwd=tmp_path)
    from chat_tui.core.models import lookup_model

    info_ = lookup_model("openai", "my-model", s.model_overrides)
    assert info_ is not None and info_.input == 2.0 and info_.output == 8.0
