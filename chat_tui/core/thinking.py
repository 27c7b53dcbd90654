"""Thinking: the user's setting resolved for one model, and the notes a stop reason deserves.

The one model table (``models.toml``) says how each model takes thinking:

* ``budget``   (Sonnet 4.5, Haiku 4.5, older): ``{"type": "enabled", "budget_tokens": N}``,
  where the API demands 1,024 <= N < max_tokens;
* ``adaptive`` (4.6 and newer): ``{"type": "adaptive"}`` with ``output_config.effort``; a budget
  is rejected, so none is ever sent to them;
* ``effort``   (OpenAI reasoning models, and any OpenAI-compatible server's unknown model):
  ``reasoning_effort``;
* ``none``: nothing is sent (the setting applies to the models that take it).

:func:`resolve` refuses, with a one-line fix, the combinations the API would answer with a 400
(a budget not below ``max_tokens``), before anything is sent.
"""

from __future__ import annotations

from chat_tui.core.models import ModelInfo
from chat_tui.errors import ConfigError
from chat_tui.providers.events import (
    THINKING_MODES,
    THINKING_OFF,
    Thinking,
    ThinkingDisplay,
    ThinkingMode,
    ThinkingStyle,
)

MIN_BUDGET = 1024  # Anthropic rejects a smaller budget_tokens
DEFAULT_BUDGETS: dict[str, int] = {"on": 4096, "low": 2048, "medium": 8192, "high": 16384}
MAX_RETRY_TOKENS = 64000  # "retry with more" doubles max_tokens up to this
_STYLES: dict[str, ThinkingStyle] = {"budget": "budget", "adaptive": "adaptive", "effort": "effort"}


class ThinkingError(ConfigError):
    """A thinking setting the provider would reject (one line, with the fix)."""


def check_mode(value: object, where: str) -> ThinkingMode:
    for mode in THINKING_MODES:
        if value == mode:
            return mode
    raise ConfigError(
        f"{where}: thinking must be one of {', '.join(THINKING_MODES)}, not {value!r}"
    )


def check_budget(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{where}: the thinking budget is a whole number of tokens, not {value!r}"
        )
    if value < MIN_BUDGET:
        raise ConfigError(f"{where}: the thinking budget must be at least {MIN_BUDGET:,} tokens")
    return value


def style_for(provider: str, info: ModelInfo | None) -> ThinkingStyle:
    """How ``info``'s model takes thinking. A model the table does not know: adaptive on
    Anthropic (every older model is in the table), a reasoning effort elsewhere (local and
    compatible servers take ``reasoning_effort`` or ignore it)."""
    if info is not None and not info.local:
        return _STYLES.get(info.thinking, "none")
    return "adaptive" if provider == "anthropic" else "effort"


def resolve(
    mode: ThinkingMode,
    budget: int | None,
    *,
    provider: str,
    model: str,
    info: ModelInfo | None,
    max_tokens: int,
) -> Thinking:
    """The thinking settings of a request to ``model``. Raises :class:`ThinkingError` for a
    budget the API would reject."""
    if mode == "off":
        return THINKING_OFF
    style = style_for(provider, info)
    if style == "none":
        return Thinking(mode=mode, style="none")
    display: ThinkingDisplay | None = None
    if provider == "anthropic" and (info is None or info.thinking_display == "omitted"):
        display = "summarized"  # an omitted display shows nothing: ask for the summary
    if style != "budget":
        return Thinking(mode=mode, style=style, display=display)
    if budget is not None:
        if budget >= max_tokens:
            raise ThinkingError(
                f"the thinking budget ({budget:,} tokens) must be below max_tokens "
                f"({max_tokens:,}) on {model}: raise max_tokens or lower the thinking budget"
            )
        chosen = budget
    else:
        chosen = DEFAULT_BUDGETS[mode]
        if chosen >= max_tokens:
            chosen = max(MIN_BUDGET, max_tokens // 2)
        if chosen >= max_tokens:
            raise ThinkingError(
                f"thinking on {model} needs max_tokens above {MIN_BUDGET:,} (it is "
                f"{max_tokens:,}): raise max_tokens, or set thinking off"
            )
    return Thinking(mode=mode, budget=chosen, style="budget", display=display)


def describe(setting: Thinking, model: str) -> str:
    """One line for a notice: what the next request to ``model`` will ask for."""
    if setting.mode == "off":
        return "Thinking off"
    if setting.style == "none":
        return f"Thinking {setting.mode}: {model} does not think, so nothing changes for it"
    if setting.style == "budget":
        return f"Thinking {setting.mode}: up to {setting.budget:,} tokens on {model}"
    effort = setting.effort or "the model's default"
    return f"Thinking {setting.mode}: {effort} effort on {model}"


def stop_note(
    reason: str | None, max_tokens: int | None, *, answered: bool, thought: bool, retry_hint: str
) -> str | None:
    """The note a stop reason deserves under the answer, or None for a normal end.

    ``retry_hint`` says how to try again with more room, e.g. "ctrl+r retries with more";
    ``max_tokens`` None when the limit is not known (a saved turn)."""
    if reason == "max_tokens":
        where = "the token limit" if max_tokens is None else f"the {max_tokens:,}-token limit"
        if thought and not answered:
            return f"cut while still thinking, at {where}: {retry_hint} (max_tokens)"
        return f"cut at {where}: {retry_hint} (max_tokens)"
    if reason == "refusal":
        return "the model declined to answer (refusal)"
    if reason == "model_context_window_exceeded":
        return "cut: the conversation filled the model's context window"
    if reason == "pause_turn":
        return "the model paused its turn: ask it to continue"
    return None


def more_tokens(current: int) -> int:
    """The max_tokens for a retry after a cut: double, up to ``MAX_RETRY_TOKENS``."""
    return max(current, min(current * 2, MAX_RETRY_TOKENS))
