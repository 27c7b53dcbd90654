"""One typed settings object, layered: defaults < TOML config file < environment (and a ``.env``
in the working directory) < command-line flags.

API keys come only from the environment (or ``.env``); they are never read from, or written
to, the config file, and :class:`Settings` never shows them in its ``repr``.

Config file (``~/.config/chat-tui/config.toml``, or ``$CHAT_TUI_CONFIG``)::

    provider = "anthropic"          # anthropic | openai | ollama; omitted: first configured
    cache_ttl = "5m"                # or "1h"
    cache_retention = "24h"         # OpenAI Responses API: in_memory, 24h, 30m, 12h; omitted: not sent
    max_tokens = 4096
    read_timeout = 60               # seconds without data before a stream counts as stalled
    max_retries = 2
    system_prompt = "..."
    thinking = "off"                # off | on | low | medium | high
    thinking_budget = 8000          # tokens, for models that take a budget (>= 1024)

    [providers.anthropic]
    model = "claude-haiku-4-5"
    base_url = "https://api.anthropic.com"
    [providers.openai]
    model = "gpt-4.1-mini"
    base_url = "http://localhost:8000/v1"      # vLLM, llama.cpp llama-server, LM Studio ...
    api = "chat"                    # or "responses"; default: responses for api.openai.com only
    [providers.ollama]
    model = "qwen2.5:3b"
    host = "http://localhost:11434"

    budget_usd = 1.00               # spending cap per TUI session / per `ask` run
    keep_warm = false               # ping the cache shortly before its TTL runs out while idle
    keep_warm_max = 6               # pings per idle stretch
    keep_warm_lead_s = 30           # how long before expiry a ping goes out

    [documents]
    max_bytes = 5242880             # the largest text file (PDFs: up to 100 MB)
    max_files = 200                 # files taken from one folder
    upload_bytes = 5242880          # Anthropic: larger documents go through the Files API

    [ui]
    theme = "chat-tui-dark"
    show_panel = true
    thinking_open = false           # keep thinking blocks open when the answer starts

    [keymap]                        # binding id = keys
    toggle_provider = "ctrl+t"

    [models."my-finetune"]          # price / limit overrides, USD per million tokens
    input = 1.0
    output = 4.0

    tool_timeout = 60               # seconds a tool may run before an error result goes back
    max_tool_calls = 10             # tool calls per turn

    [mcp.servers.files]             # an MCP server over stdio (started after the first frame)
    command = "uvx"
    args = ["mcp-server-filesystem", "/home/me/notes"]
    env = { }
    [mcp.servers.search]            # an MCP server over streamable HTTP
    url = "http://localhost:8765/mcp"

    [telemetry]                     # OpenTelemetry export (pip install 'chat-tui[otel]')
    enabled = true                  # or CHAT_TUI_TELEMETRY=1; OTEL_SDK_DISABLED=true turns it off
    endpoint = "http://localhost:4318"   # OTLP/HTTP; default: OTEL_EXPORTER_OTLP_* variables
    capture_content = false         # true: prompts and answers go out in the spans
"""

from __future__ import annotations

import io
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from chat_tui import locations
from chat_tui.errors import ConfigError
from chat_tui.providers.base import (
    CACHE_RETENTIONS,
    PROVIDER_KINDS,
    CacheRetention,
    OpenAIApi,
    ProviderKind,
    ProviderSettings,
)

if TYPE_CHECKING:
    from chat_tui.providers.events import CacheTTL, ThinkingMode

DEFAULT_MODELS: dict[ProviderKind, str] = {
    "anthropic": "claude-haiku-4-5",
    "openai": "gpt-4.1-mini",
    "ollama": "qwen2.5:3b",
}
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, precise assistant in a terminal chat client. Answer in Markdown. "
    "When a reference document is provided, ground your answers in it and say when it does "
    "not cover the question."
)
KEY_ENV: dict[ProviderKind, str | None] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "ollama": None,
}


@dataclass(frozen=True)
class TelemetrySettings:
    """OpenTelemetry export, off unless asked. Collector headers (which may hold a token)
    come only from ``OTEL_EXPORTER_OTLP_HEADERS``, never from the config file."""

    enabled: bool = False
    endpoint: str | None = None  # OTLP/HTTP base URL; None: the OTEL_EXPORTER_OTLP_* variables
    capture_content: bool = False
    max_queue: int = 2048  # spans waiting for export; more are dropped (and counted)


@dataclass(frozen=True)
class McpServer:
    """One ``[mcp.servers.NAME]`` section: a ``command`` (with ``args`` and ``env``) run over
    stdio, or the ``url`` of a streamable HTTP server. ``env`` may hold secrets: never shown."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False)
    url: str | None = None


@dataclass(frozen=True)
class Settings:
    provider: ProviderKind | None = None
    models: dict[ProviderKind, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    ollama_host: str | None = None
    anthropic_api_key: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    cache_ttl: CacheTTL = "5m"
    cache_retention: CacheRetention | None = None
    apis: dict[ProviderKind, OpenAIApi] = field(default_factory=dict)
    max_tokens: int = 4096
    read_timeout: float = 60.0
    max_retries: int = 2
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    document_max_bytes: int = 5 * 1024 * 1024
    document_max_files: int = 200
    document_upload_bytes: int = 5 * 1024 * 1024
    theme: str | None = None
    show_panel: bool = True
    thinking: ThinkingMode = "off"
    thinking_budget: int | None = None  # None: a default per effort (core/thinking.py)
    thinking_open: bool = False  # thinking blocks stay open when the answer starts
    keymap: dict[str, str] = field(default_factory=dict)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_usd: float | None = None
    keep_warm: bool = False
    keep_warm_max: int = 6
    keep_warm_lead_s: float = 30.0
    data_dir: Path = field(default_factory=locations.data_dir)
    config_path: Path | None = None
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    mcp_servers: tuple[McpServer, ...] = ()
    tools_enabled: bool = True  # --no-tools turns them off for the session
    tool_timeout: float = 60.0
    max_tool_calls: int = 10

    # -- providers -----------------------------------------------------------------------

    def configured_providers(self) -> list[ProviderKind]:
        """Providers the user has set up, in toggle order. Ollama counts when its host is set,
        or when nothing else is (it needs no key, so it is the fallback)."""
        kinds: list[ProviderKind] = []
        if self.anthropic_api_key or self.anthropic_base_url:
            kinds.append("anthropic")
        if self.openai_api_key or self.openai_base_url:
            kinds.append("openai")
        if self.ollama_host or not kinds:
            kinds.append("ollama")
        if self.provider and self.provider not in kinds:
            kinds.insert(0, self.provider)
        return kinds

    def default_provider(self) -> ProviderKind:
        return self.provider or self.configured_providers()[0]

    def provider_settings(self, kind: ProviderKind, model: str | None = None) -> ProviderSettings:
        common: dict[str, Any] = {
            "model": model or self.models[kind],
            "read_timeout": self.read_timeout,
            "max_retries": self.max_retries,
            "key_env": KEY_ENV[kind],
        }
        if kind != "anthropic":  # the OpenAI protocol's settings
            common |= {"api": self.apis.get(kind), "cache_retention": self.cache_retention}
        if kind == "anthropic":
            return ProviderSettings(
                kind=kind,
                base_url=self.anthropic_base_url or "https://api.anthropic.com",
                api_key=self.anthropic_api_key,
                **common,
            )
        if kind == "openai":
            return ProviderSettings(
                kind=kind,
                base_url=self.openai_base_url or "https://api.openai.com/v1",
                api_key=self.openai_api_key,
                **common,
            )
        host = (self.ollama_host or DEFAULT_OLLAMA_HOST).rstrip("/")
        return ProviderSettings(kind=kind, base_url=host + "/v1", api_key="ollama", **common)


# -- loading -----------------------------------------------------------------------------


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings from every source. Raises :class:`ConfigError` with one line."""
    env = dict(os.environ if environ is None else environ)
    dotenv_path = (cwd or Path.cwd()) / ".env"
    for key, value in _read_dotenv(dotenv_path).items():
        env.setdefault(key, value)  # the real environment wins over .env

    path = Path(env["CHAT_TUI_CONFIG"]).expanduser() if env.get("CHAT_TUI_CONFIG") else None
    path = path or locations.config_file()
    settings = Settings(config_path=path if path.is_file() else None)
    if path.is_file():
        settings = _apply_file(settings, _read_toml(path), path)
    settings = _apply_env(settings, env)
    if flags:
        settings = _apply_flags(settings, flags)
    return settings


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.__class__.__name__}; fix or remove it"
        ) from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()[:40]
            raise ConfigError(
                f"{path}, line {binding.original.line}: cannot parse {line!r}; "
                "write KEY=value, one per line"
            )
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}; fix the TOML syntax there") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def check_mode(value: Any, where: str) -> ThinkingMode:
    from chat_tui.core.thinking import check_mode as check

    return check(value, where)


def check_budget(value: Any, where: str) -> int:
    from chat_tui.core.thinking import check_budget as check

    return check(value, where)


def _check_provider(value: Any, where: str) -> ProviderKind:
    if value not in PROVIDER_KINDS:
        raise ConfigError(
            f"{where}: unknown provider {value!r}; use one of {', '.join(PROVIDER_KINDS)}"
        )
    return cast(ProviderKind, value)


def _check_ttl(value: Any, where: str) -> CacheTTL:
    if value not in ("5m", "1h"):
        raise ConfigError(f'{where}: cache_ttl must be "5m" or "1h", not {value!r}')
    return cast("CacheTTL", value)


def _check_retention(value: Any, where: str) -> CacheRetention:
    if value not in CACHE_RETENTIONS:
        choices = ", ".join(f'"{v}"' for v in CACHE_RETENTIONS)
        raise ConfigError(f"{where}: cache_retention must be one of {choices}, not {value!r}")
    return cast(CacheRetention, value)


def _check_api(value: Any, where: str) -> OpenAIApi:
    if value not in ("responses", "chat"):
        raise ConfigError(f'{where}: api must be "responses" or "chat", not {value!r}')
    return cast(OpenAIApi, value)


def _check_url(value: Any, where: str, *, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a URL such as {example}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where}: {value!r} is not an http(s) URL; write it with its scheme, e.g. {example}"
        )
    return value.strip().rstrip("/")


def _number(value: Any, where: str, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, not {value!r}")
    if value < minimum:
        raise ConfigError(f"{where}: must be at least {minimum}")
    return kind(value)


def _apply_file(s: Settings, data: dict[str, Any], path: Path) -> Settings:
    where = str(path)
    known = {
        "provider", "cache_ttl", "cache_retention", "max_tokens", "read_timeout", "max_retries",
        "system_prompt", "providers", "documents", "ui", "keymap", "models", "budget_usd",
        "keep_warm", "keep_warm_max", "keep_warm_lead_s", "telemetry", "thinking",
        "thinking_budget", "mcp", "tool_timeout", "max_tool_calls",
    }  # fmt: skip
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
            )
    changes: dict[str, Any] = {}
    if "provider" in data:
        changes["provider"] = _check_provider(data["provider"], f"{where}: provider")
    if "cache_ttl" in data:
        changes["cache_ttl"] = _check_ttl(data["cache_ttl"], where)
    if "cache_retention" in data:
        changes["cache_retention"] = _check_retention(data["cache_retention"], where)
    if "max_tokens" in data:
        changes["max_tokens"] = _number(data["max_tokens"], f"{where}: max_tokens", int, 1)
    if "read_timeout" in data:
        changes["read_timeout"] = _number(data["read_timeout"], f"{where}: read_timeout", float, 1)
    if "max_retries" in data:
        changes["max_retries"] = _number(data["max_retries"], f"{where}: max_retries", int, 0)
    if "system_prompt" in data:
        changes["system_prompt"] = str(data["system_prompt"])
    if "budget_usd" in data:
        changes["budget_usd"] = _number(data["budget_usd"], f"{where}: budget_usd", float, 0)
    if "keep_warm" in data:
        if not isinstance(data["keep_warm"], bool):
            raise ConfigError(f"{where}: keep_warm must be true or false")
        changes["keep_warm"] = data["keep_warm"]
    if "keep_warm_max" in data:
        changes["keep_warm_max"] = _number(data["keep_warm_max"], f"{where}: keep_warm_max", int, 0)
    if "keep_warm_lead_s" in data:
        changes["keep_warm_lead_s"] = _number(
            data["keep_warm_lead_s"], f"{where}: keep_warm_lead_s", float, 1
        )
    if "thinking" in data:
        changes["thinking"] = check_mode(data["thinking"], f"{where}: thinking")
    if "thinking_budget" in data:
        changes["thinking_budget"] = check_budget(
            data["thinking_budget"], f"{where}: thinking_budget"
        )
    models, apis = dict(s.models), dict(s.apis)
    for kind, section in _table(data, "providers", where).items():
        kind = _check_provider(kind, f"{where}: [providers.{kind}]")
        section = _table({"s": section}, "s", f"{where}: [providers.{kind}]")
        if "model" in section:
            models[kind] = str(section["model"])
        if "api" in section:
            if kind == "anthropic":
                raise ConfigError(
                    f"{where}: providers.anthropic.api: remove it; api is for openai and ollama"
                )
            apis[kind] = _check_api(section["api"], f"{where}: providers.{kind}")
        url_key = "host" if kind == "ollama" else "base_url"
        if url_key in section:
            example = {"anthropic": "https://api.anthropic.com", "openai": "http://localhost:8000/v1",
                       "ollama": DEFAULT_OLLAMA_HOST}[kind]  # fmt: skip
            url = _check_url(
                section[url_key], f"{where}: providers.{kind}.{url_key}", example=example
            )
            changes[{"anthropic": "anthropic_base_url", "openai": "openai_base_url",
                     "ollama": "ollama_host"}[kind]] = url  # fmt: skip
    changes["models"], changes["apis"] = models, apis
    documents = _table(data, "documents", where)
    if "max_bytes" in documents:
        changes["document_max_bytes"] = _number(
            documents["max_bytes"], f"{where}: documents.max_bytes", int, 1
        )
    for key, field_name in (("max_files", "document_max_files"),
                            ("upload_bytes", "document_upload_bytes")):  # fmt: skip
        if key in documents:
            changes[field_name] = _number(documents[key], f"{where}: documents.{key}", int, 1)
    ui = _table(data, "ui", where)
    if "theme" in ui:
        changes["theme"] = str(ui["theme"])
    if "show_panel" in ui:
        changes["show_panel"] = bool(ui["show_panel"])
    if "thinking_open" in ui:
        changes["thinking_open"] = bool(ui["thinking_open"])
    changes["keymap"] = {str(k): str(v) for k, v in _table(data, "keymap", where).items()}
    overrides = _table(data, "models", where)
    from chat_tui.core.models import validate_overrides

    try:
        validate_overrides(overrides)
    except ValueError as exc:
        raise ConfigError(f"{where}: [models]: {exc}") from None
    changes["model_overrides"] = {str(k): dict(v) for k, v in overrides.items()}
    changes["telemetry"] = _telemetry_file(s.telemetry, _table(data, "telemetry", where), where)
    if "tool_timeout" in data:
        changes["tool_timeout"] = _number(
            data["tool_timeout"], f"{where}: tool_timeout", float, 0.1
        )
    if "max_tool_calls" in data:
        changes["max_tool_calls"] = _number(
            data["max_tool_calls"], f"{where}: max_tool_calls", int, 1
        )
    changes["mcp_servers"] = _mcp_file(_table(data, "mcp", where), where)
    return replace(s, **changes)


def _mcp_file(section: dict[str, Any], where: str) -> tuple[McpServer, ...]:
    """``[mcp.servers.NAME]`` sections, in the file's order."""
    for key in section:
        if key != "servers":
            raise ConfigError(f"{where}: mcp.{key}: unknown setting; use [mcp.servers.NAME]")
    servers: list[McpServer] = []
    for name, raw in _table(section, "servers", f"{where}: mcp").items():
        at = f"{where}: mcp.servers.{name}"
        entry = _table({"s": raw}, "s", at)
        unknown = set(entry) - {"command", "args", "env", "url"}
        if unknown:
            raise ConfigError(f"{at}: unknown setting {sorted(unknown)[0]!r}; "
                              "known: command, args, env, url")  # fmt: skip
        command, url = entry.get("command"), entry.get("url")
        if (command is None) == (url is None):
            raise ConfigError(f"{at}: give either command (stdio) or url (streamable HTTP)")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f'{at}: args must be a list of strings, e.g. ["--root", "/tmp"]')
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ConfigError(f'{at}: env must be a table of strings, e.g. {{ KEY = "value" }}')
        if url is not None:
            url = _check_url(url, f"{at}.url", example="http://localhost:8765/mcp")
        servers.append(McpServer(name=str(name), command=None if command is None else
                                 str(command), args=tuple(args), env=dict(env), url=url))  # fmt: skip
    return tuple(servers)


def _telemetry_file(t: TelemetrySettings, section: dict[str, Any], where: str) -> TelemetrySettings:
    where = f"{where}: telemetry"
    changes: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("enabled", "capture_content"):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false, not {value!r}")
            changes[key] = value
        elif key == "endpoint":
            changes[key] = _check_url(value, f"{where}.endpoint", example="http://localhost:4318")
        elif key == "max_queue":
            changes[key] = _number(value, f"{where}.max_queue", int, 1)
        else:
            raise ConfigError(
                f"{where}: unknown setting {key!r}; known: capture_content, enabled, endpoint, "
                "max_queue (collector headers: OTEL_EXPORTER_OTLP_HEADERS)"
            )
    return replace(t, **changes)


def _telemetry_env(t: TelemetrySettings, env: Mapping[str, str]) -> TelemetrySettings:
    """CHAT_TUI_TELEMETRY turns export on or off; OTEL_SDK_DISABLED=true turns it off;
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is the GenAI instrumentations' switch."""

    def flag(name: str) -> bool | None:
        value = env.get(name, "").strip().lower()
        if not value:
            return None
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"{name}={env[name]!r}: use true or false")
        return value in ("1", "true", "yes", "on")

    enabled, content = (
        flag("CHAT_TUI_TELEMETRY"),
        flag("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
    )
    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["enabled"] = enabled
    if flag("OTEL_SDK_DISABLED"):
        changes["enabled"] = False
    if content is not None:
        changes["capture_content"] = content
    return replace(t, **changes)


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _apply_env(s: Settings, env: Mapping[str, str]) -> Settings:
    changes: dict[str, Any] = {}
    if env.get("ANTHROPIC_API_KEY"):
        changes["anthropic_api_key"] = env["ANTHROPIC_API_KEY"].strip()
    if env.get("OPENAI_API_KEY"):
        changes["openai_api_key"] = env["OPENAI_API_KEY"].strip()
    if env.get("ANTHROPIC_BASE_URL"):
        changes["anthropic_base_url"] = _check_url(
            env["ANTHROPIC_BASE_URL"], "ANTHROPIC_BASE_URL", example="https://api.anthropic.com"
        )
    if env.get("OPENAI_BASE_URL"):
        changes["openai_base_url"] = _check_url(
            env["OPENAI_BASE_URL"], "OPENAI_BASE_URL", example="http://localhost:8000/v1"
        )
    if env.get("OLLAMA_HOST"):
        host = env["OLLAMA_HOST"].strip()
        if "://" not in host:  # Ollama itself accepts host:port
            host = "http://" + host
        changes["ollama_host"] = _check_url(host, "OLLAMA_HOST", example=DEFAULT_OLLAMA_HOST)
    if env.get("CHAT_TUI_PROVIDER"):
        changes["provider"] = _check_provider(env["CHAT_TUI_PROVIDER"], "CHAT_TUI_PROVIDER")
    if env.get("CHAT_TUI_CACHE_TTL"):
        changes["cache_ttl"] = _check_ttl(env["CHAT_TUI_CACHE_TTL"], "CHAT_TUI_CACHE_TTL")
    if env.get("CHAT_TUI_CACHE_RETENTION"):
        changes["cache_retention"] = _check_retention(
            env["CHAT_TUI_CACHE_RETENTION"], "CHAT_TUI_CACHE_RETENTION"
        )
    if env.get("CHAT_TUI_THINKING"):
        changes["thinking"] = check_mode(env["CHAT_TUI_THINKING"].strip(), "CHAT_TUI_THINKING")
    if env.get("CHAT_TUI_DATA_DIR"):
        changes["data_dir"] = Path(env["CHAT_TUI_DATA_DIR"]).expanduser()
    changes["telemetry"] = _telemetry_env(s.telemetry, env)
    return replace(s, **changes)


def _apply_flags(s: Settings, flags: Mapping[str, Any]) -> Settings:
    changes: dict[str, Any] = {}
    if flags.get("provider"):
        changes["provider"] = _check_provider(flags["provider"], "--provider")
    provider = changes.get("provider", s.provider)
    if flags.get("model"):
        kind = provider or s.default_provider()
        changes["models"] = {**s.models, kind: str(flags["model"])}
    if flags.get("ttl"):
        changes["cache_ttl"] = _check_ttl(flags["ttl"], "--ttl")
    if flags.get("retention"):
        changes["cache_retention"] = _check_retention(flags["retention"], "--retention")
    if flags.get("api"):
        kind = provider or s.default_provider()
        if kind == "anthropic":
            raise ConfigError("--api: only for the openai and ollama providers")
        changes["apis"] = {**s.apis, kind: _check_api(flags["api"], "--api")}
    if flags.get("max_tokens"):
        changes["max_tokens"] = _number(flags["max_tokens"], "--max-tokens", int, 1)
    if flags.get("read_timeout"):
        changes["read_timeout"] = _number(flags["read_timeout"], "--read-timeout", float, 0.1)
    if flags.get("data_dir"):
        changes["data_dir"] = Path(flags["data_dir"]).expanduser()
    if flags.get("budget") is not None:
        changes["budget_usd"] = _number(flags["budget"], "--budget", float, 0)
    if flags.get("keep_warm"):
        changes["keep_warm"] = True
    if flags.get("no_tools"):
        changes["tools_enabled"] = False
    if flags.get("thinking"):
        changes["thinking"] = check_mode(flags["thinking"], "--thinking")
    if flags.get("thinking_budget") is not None:
        changes["thinking_budget"] = check_budget(flags["thinking_budget"], "--thinking-budget")
        if not flags.get("thinking") and s.thinking == "off":
            changes["thinking"] = "on"  # a budget alone means: think, with this budget
    if flags.get("base_url"):
        kind = provider or s.default_provider()
        if kind == "ollama":
            changes["ollama_host"] = _check_url(
                flags["base_url"], "--base-url", example=DEFAULT_OLLAMA_HOST
            )
        else:
            changes[f"{kind}_base_url"] = _check_url(
                flags["base_url"], "--base-url", example="http://localhost:8000/v1"
            )
    return replace(s, **changes)
