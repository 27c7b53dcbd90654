"""Themes as validated data: shipped files load, broken files give one line, apps can switch."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import BUILTIN_THEMES
from textual.widgets import Static

from chat_tui.core.metrics import CacheState
from chat_tui.ui.themes import (
    APP_VARIABLES,
    BASE_COLORS,
    builtin_themes_dir,
    load_theme_file,
    load_themes,
    theme_dirs,
    theme_variable_defaults,
    user_themes_dir,
)
from chat_tui.ui.widgets.metrics_panel import MetricsPanel

SHIPPED = sorted(builtin_themes_dir().glob("*.toml"))
GOOD = 'name = "mine"\nprimary = "#112233"\n'


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_themes_are_found() -> None:
    assert builtin_themes_dir().is_dir()
    assert len(SHIPPED) >= 4
    assert {"chat-tui-dark", "chat-tui-light"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_theme_is_complete_and_valid(path: Path) -> None:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    # Shipped themes spell out every colour rather than relying on derivation.
    assert set(BASE_COLORS) - {"boost"} <= set(raw)
    assert set(APP_VARIABLES) <= set(raw["variables"])
    theme = load_theme_file(path)
    assert theme.name == path.stem
    assert isinstance(theme.dark, bool)
    for name in APP_VARIABLES:
        Color.parse(theme.variables[name])


def test_minimal_theme_derives_app_variables(tmp_path: Path) -> None:
    theme = load_theme_file(write(tmp_path, "mine.toml", GOOD + 'success = "#00aa00"\n'))
    assert theme.name == "mine" and theme.dark
    assert set(APP_VARIABLES) <= set(theme.variables)
    assert theme.variables["cache-read"].lower() == "#00aa00"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (GOOD.replace("#112233", "#11223"), "'primary' is not a colour: '#11223'"),
        (GOOD + 'warning = "not-a-colour"\n', "'warning' is not a colour"),
        (GOOD + "[variables]\ncache-read = 'blurple'\n", "'variables.cache-read' is not a colour"),
        (GOOD + "accent = 3\n", "'accent' must be a colour string"),
        ('name = "x"\nprimary = \n', "invalid TOML"),
        ('primary = "#fff"\n', "missing required key 'name'"),
        ('name = "x"\n', "missing required key 'primary'"),
        (GOOD + "primray = '#fff'\n", "unknown key 'primray'"),
        (GOOD + 'dark = "yes"\n', "'dark' must be true or false"),
        (GOOD + "text_alpha = 2\n", "'text_alpha' must be a number from 0 to 1"),
    ],
)
def test_broken_file_gives_one_line_naming_the_file(tmp_path: Path, body: str, reason: str) -> None:
    path = write(tmp_path, "broken.toml", body)
    with pytest.raises(ValueError) as err:
        load_theme_file(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert reason in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\nprimary = "#fff"\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        load_theme_file(path)


def test_load_themes_collects_errors_and_keeps_good_ones(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    write(user, "mine.toml", GOOD)
    write(user, "bad1.toml", GOOD.replace("#112233", "nope"))
    write(user, "bad2.toml", "= broken")
    write(user, "notes.txt", "ignored")
    themes, errors = load_themes([builtin_themes_dir(), user, tmp_path / "missing"])
    names = [t.name for t in themes]
    assert "mine" in names and "chat-tui-dark" in names
    assert len(errors) == 2
    assert all("\n" not in e for e in errors)
    assert "bad1.toml" in errors[0] and "bad2.toml" in errors[1]


def test_user_theme_replaces_shipped_theme_of_same_name(tmp_path: Path) -> None:
    write(tmp_path, "override.toml", 'name = "chat-tui-dark"\nprimary = "#ff0000"\n')
    themes, errors = load_themes([builtin_themes_dir(), tmp_path])
    assert errors == []
    dark = [t for t in themes if t.name == "chat-tui-dark"]
    assert len(dark) == 1 and dark[0].primary == "#ff0000"


def test_user_themes_dir_follows_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TUI_CONFIG_DIR", str(tmp_path))
    assert user_themes_dir() == tmp_path / "themes"
    assert theme_dirs() == [builtin_themes_dir(), tmp_path / "themes"]


@pytest.mark.parametrize("name", sorted(BUILTIN_THEMES))
def test_defaults_cover_textual_builtin_themes(name: str) -> None:
    defaults = theme_variable_defaults(BUILTIN_THEMES[name])
    assert set(defaults) == set(APP_VARIABLES)
    for value in defaults.values():
        Color.parse(value)
    assert set(theme_variable_defaults()) == set(APP_VARIABLES)


class ThemedApp(App[None]):
    """Uses every app variable in CSS, as the real app's stylesheets do."""

    CSS = "\n".join(f"#v-{name} {{ color: ${name}; }}" for name in APP_VARIABLES)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        for name in APP_VARIABLES:
            yield Static(name, id=f"v-{name}")
        yield MetricsPanel(lambda: CacheState("cold", None, None), tick=0)


async def test_app_registers_and_switches_to_every_theme() -> None:
    themes, errors = load_themes([builtin_themes_dir()])
    assert errors == []
    app = ThemedApp()
    async with app.run_test(size=(60, 50)) as pilot:
        for theme in themes:
            app.register_theme(theme)
        for theme in [*themes, BUILTIN_THEMES["textual-dark"], BUILTIN_THEMES["ansi-light"]]:
            app.theme = theme.name
            await pilot.pause()
            assert app.current_theme.name == theme.name
            expected = (
                theme.variables.get("cache-read") or theme_variable_defaults(theme)["cache-read"]
            )
            assert app.theme_variables["cache-read"] == expected
            if not expected.startswith("ansi_"):
                color = app.query_one("#v-cache-read").styles.color
                assert color.hex.lower() == Color.parse(expected).hex.lower()
