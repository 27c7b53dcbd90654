"""Themes as validated data: TOML files become Textual :class:`~textual.theme.Theme` objects.

A theme file names Textual's base colours at the top level and chat-tui's own colours in a
``[variables]`` table, so ``.tcss`` speaks of meaning (``$cache-read``), not of colours::

    name = "chat-tui-dark"
    dark = true
    primary = "#5b9cf5"           # required; the other base colours are optional
    background = "#16181d"
    [variables]
    cache-read = "#5fc48a"        # any of APP_VARIABLES; missing ones derive from the theme

Every colour is checked with ``Color.parse`` before the Theme is built: Textual registers a
theme with a bad colour without complaint and only crashes when the user switches to it.
Shipped themes live in :func:`builtin_themes_dir`; users add their own in
:func:`user_themes_dir` (a later directory's theme wins over an earlier one of the same name).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.css.tokenize import tokenize_value
from textual.css.tokenizer import TokenError
from textual.theme import Theme

from chat_tui import locations

BASE_COLORS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
APP_VARIABLES = (
    "role-user",
    "role-assistant",
    "cache-write",
    "cache-read",
    "uncached",
    "cost",
    "ttl-warm",
    "ttl-expiring",
    "ttl-expired",
)
_META_KEYS = ("name", "dark", "description", "author", "luminosity_spread", "text_alpha")
_ALLOWED_KEYS = frozenset((*_META_KEYS, *BASE_COLORS, "variables"))

# Fallbacks (chat-tui-dark's values) for themes whose colours cannot be derived from.
DEFAULT_VARIABLES: dict[str, str] = {
    "role-user": "#5b9cf5",
    "role-assistant": "#56c2c0",
    "cache-write": "#e9b949",
    "cache-read": "#5fc48a",
    "uncached": "#8fa1b3",
    "cost": "#f5a35b",
    "ttl-warm": "#5fc48a",
    "ttl-expiring": "#e9b949",
    "ttl-expired": "#e86671",
}
# Which generated Textual colour each app variable follows when a theme does not set it.
_DERIVED_FROM = {
    "role-user": "primary",
    "role-assistant": "secondary",
    "cache-write": "warning",
    "cache-read": "success",
    "cost": "accent",
    "ttl-warm": "success",
    "ttl-expiring": "warning",
    "ttl-expired": "error",
}


def builtin_themes_dir() -> Path:
    """The shipped themes: ``chat_tui/themes`` in an installed wheel, else ``<repo>/themes``."""
    packaged = importlib.resources.files("chat_tui") / "themes"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "themes"


def user_themes_dir() -> Path:
    """Where users put their own ``*.toml`` themes: ``<config dir>/themes``."""
    return locations.config_dir() / "themes"


def theme_dirs() -> list[Path]:
    """Shipped themes first, then the user's (which win on a name clash)."""
    return [builtin_themes_dir(), user_themes_dir()]


def theme_variable_defaults(theme: Theme | None = None) -> dict[str, str]:
    """Values for chat-tui's CSS variables when a theme does not define them.

    Return this from ``App.get_theme_variable_defaults`` (pass ``self.current_theme``) so
    Textual's built-in themes work too: their app colours then follow their own success,
    warning and error colours. Without a theme, fixed defaults. A theme loaded by
    :func:`theme_from_mapping` already carries every app variable: nothing to derive.
    """
    if theme is None:
        return dict(DEFAULT_VARIABLES)
    if all(name in theme.variables for name in APP_VARIABLES):
        return {}
    try:
        generated = theme.to_color_system().generate()
    except (ColorParseError, ValueError):
        return dict(DEFAULT_VARIABLES)
    return _derived(generated)


def _derived(generated: dict[str, str]) -> dict[str, str]:
    """The app variables from a theme's generated Textual colours."""
    try:
        colors = {name: Color.parse(generated[name]) for name in (*_DERIVED_FROM.values(),)}
        foreground = Color.parse(generated["foreground"])
        background = Color.parse(generated["background"])
    except (ColorParseError, KeyError, ValueError):
        return dict(DEFAULT_VARIABLES)
    if any(c.ansi is not None for c in (*colors.values(), foreground, background)):
        derived = {key: generated[src] for key, src in _DERIVED_FROM.items()}
        derived["uncached"] = generated["foreground"]
        return derived
    derived = {key: colors[src].hex for key, src in _DERIVED_FROM.items()}
    derived["uncached"] = background.blend(foreground, 0.6).hex
    return derived


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file. Raises ValueError: ``<path>: <one-line reason>``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {_one_line(str(exc))}") from None
    try:
        return theme_from_mapping(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def theme_from_mapping(data: dict[str, Any]) -> Theme:
    """Validate parsed theme data and build the Theme. Raises ValueError (one line)."""
    unknown = sorted(set(data) - _ALLOWED_KEYS)
    if unknown:
        raise ValueError(
            f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_ALLOWED_KEYS))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("missing required key 'name' (a non-empty string)")
    if "primary" not in data:
        raise ValueError("missing required key 'primary' (a colour)")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError(f"'dark' must be true or false, not {dark!r}")
    colors = {key: _colour(key, data[key]) for key in BASE_COLORS if key in data}
    spread = _fraction(data, "luminosity_spread", 0.15)
    text_alpha = _fraction(data, "text_alpha", 0.95)
    variables = _variables(data.get("variables", {}))
    theme = Theme(
        name=name.strip(),
        primary=colors["primary"],
        secondary=colors.get("secondary"),
        warning=colors.get("warning"),
        error=colors.get("error"),
        success=colors.get("success"),
        accent=colors.get("accent"),
        foreground=colors.get("foreground"),
        background=colors.get("background"),
        surface=colors.get("surface"),
        panel=colors.get("panel"),
        boost=colors.get("boost"),
        dark=dark,
        luminosity_spread=spread,
        text_alpha=text_alpha,
        variables=variables,
    )
    try:
        generated = theme.to_color_system().generate()
    except (ColorParseError, ValueError) as exc:  # pragma: no cover - colours checked above
        raise ValueError(f"cannot build colours: {_one_line(str(exc))}") from None
    theme.variables = {**_derived(generated), **variables}
    return theme


def load_themes(dirs: Iterable[Path]) -> tuple[list[Theme], list[str]]:
    """Every ``*.toml`` theme in ``dirs`` (missing directories are skipped).

    Returns the themes (a later theme replaces an earlier one of the same name) and one
    line per broken file, for a single notification; the app keeps its current theme.
    """
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            themes.pop(theme.name, None)
            themes[theme.name] = theme
    return list(themes.values()), errors


def _colour(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a colour string, not {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{key!r} is not a colour: {value!r}") from None
    return value


def _fraction(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{key!r} must be a number from 0 to 1, not {value!r}")
    return float(value)


def _variables(table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ValueError("'variables' must be a table of name = value")
    variables: dict[str, str] = {}
    for key, value in table.items():
        if key in APP_VARIABLES:
            variables[key] = _colour(f"variables.{key}", value)
            continue
        # Any other Textual variable (e.g. footer-key-foreground): a non-empty CSS value.
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"'variables.{key}' must be a non-empty string, not {value!r}")
        try:
            list(tokenize_value(value, ("theme", "")))
        except TokenError:
            raise ValueError(f"'variables.{key}' is not a CSS value: {value!r}") from None
        variables[key] = value
    return variables


def _one_line(text: str) -> str:
    return " ".join(text.split())
