"""loomtui.config on real files under tmp_path: defaults, parsing, clamping, warnings
for everything it ignores (never an exception for a typo), clear errors for files
it cannot read, the LOOM_CONFIG override and the supervisor's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loomtui.config import (
    CONFIG_NAME,
    DEFAULT_CONFIG_TEXT,
    Config,
    ConfigError,
    ConsoleConfig,
    config_path,
    load_config,
    supervisor_name,
)


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without a LOOM_CONFIG from the outer environment."""
    monkeypatch.delenv("LOOM_CONFIG", raising=False)


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    path = tmp_path / "pod"
    path.mkdir()
    return path


def write(pod: Path, text: str) -> Path:
    path = pod / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_defaults(pod: Path) -> None:
    """A pod without config.toml works with the documented defaults and no noise."""
    config = load_config(pod)
    assert config == Config(path=None)
    assert config.console == ConsoleConfig(theme="loom-dark", refresh_hz=4.0, stall_after=300.0)
    assert dict(config.keymap) == {}
    assert config.warnings == ()


def test_default_text_parses_to_the_defaults_it_documents(pod: Path) -> None:
    """The commented file `init` writes loads silently, and uncommenting its examples
    gives exactly the defaults it claims ("the values shown are the defaults")."""
    path = write(pod, DEFAULT_CONFIG_TEXT)
    config = load_config(pod)
    assert config.console == ConsoleConfig()
    assert config.warnings == ()
    assert config.path == path

    uncommented = re.sub(r"(?m)^# (\w+ = .+)$", r"\1", DEFAULT_CONFIG_TEXT)
    assert uncommented != DEFAULT_CONFIG_TEXT
    write(pod, uncommented)
    config = load_config(pod)
    assert config.warnings == ()
    assert config.console == ConsoleConfig()
    assert dict(config.keymap) == {"quit": "ctrl+q", "filter": "slash,f"}


def test_values_are_parsed(pod: Path) -> None:
    """Every console key and keymap entry reaches the Config."""
    path = write(pod, '[console]\ntheme = "loom-light"\nrefresh_hz = 2.5\nstall_after = 90.5\n'
                      '[keymap]\nquit = "ctrl+q"\nfilter = "slash,f"\n')
    config = load_config(pod)
    assert config.console == ConsoleConfig(theme="loom-light", refresh_hz=2.5, stall_after=90.5)
    assert dict(config.keymap) == {"quit": "ctrl+q", "filter": "slash,f"}
    assert config.path == path
    assert config.warnings == ()


@pytest.mark.parametrize(("given", "expected"), [
    ("0", 1.0), ("0.25", 1.0), ("-3", 1.0), ("1", 1.0), ("2.5", 2.5), ("4", 4.0), ("10", 4.0),
    ("60.0", 4.0), ("inf", 4.0),
])
def test_refresh_hz_is_clamped_to_1_to_4(pod: Path, given: str, expected: float) -> None:
    """The console polls the store 1 to 4 times a second whatever the file says."""
    write(pod, f"[console]\nrefresh_hz = {given}\n")
    config = load_config(pod)
    assert config.console.refresh_hz == expected
    assert config.warnings == ()


def test_stall_after_has_a_floor(pod: Path) -> None:
    """A zero or negative stall time would mark every working agent stalled at once."""
    write(pod, "[console]\nstall_after = -5\n")
    assert load_config(pod).console.stall_after == 1.0


def test_ints_are_accepted_for_floats(pod: Path) -> None:
    """`stall_after = 45` is what people write; it must not be rejected as 'not a float'."""
    write(pod, "[console]\nstall_after = 45\nrefresh_hz = 3\n")
    config = load_config(pod)
    assert config.console.stall_after == 45.0 and isinstance(config.console.stall_after, float)
    assert config.console.refresh_hz == 3.0 and isinstance(config.console.refresh_hz, float)
    assert config.warnings == ()


def test_wrong_types_are_warned_and_defaulted(pod: Path) -> None:
    """A value of the wrong type (bools included) falls back to the default with one warning
    naming the key, while the good values beside it still apply."""
    path = write(pod, '[console]\ntheme = 3\nrefresh_hz = "fast"\nstall_after = true\n'
                      '[keymap]\nquit = "q"\n')
    config = load_config(pod)
    assert config.console == ConsoleConfig()
    assert dict(config.keymap) == {"quit": "q"}
    assert len(config.warnings) == 3
    for key in ("console.theme", "console.refresh_hz", "console.stall_after"):
        assert sum(key in w for w in config.warnings) == 1, (key, config.warnings)
    assert all(str(path) in w for w in config.warnings)


def test_console_that_is_not_a_table(pod: Path) -> None:
    """`console = 5` is warned about and the defaults used, not a crash."""
    write(pod, "console = 5\n")
    config = load_config(pod)
    assert config.console == ConsoleConfig()
    assert len(config.warnings) == 1 and "[console]" in config.warnings[0]


def test_unknown_sections_and_keys_are_warned(pod: Path) -> None:
    """Each unknown section, top-level key and console key gets exactly one warning and
    is otherwise ignored."""
    path = write(pod, 'stray = 1\n[console]\nstall_after = 12\ncolour = "red"\n'
                      '[plugins]\nenabled = true\n')
    config = load_config(pod)
    assert config.console.stall_after == 12.0
    assert len(config.warnings) == 3, config.warnings
    for name in ("stray", "plugins", "console.colour"):
        assert sum(name in w for w in config.warnings) == 1, (name, config.warnings)
    assert all(str(path) in w for w in config.warnings)


def test_keymap_keeps_strings_and_warns_about_the_rest(pod: Path) -> None:
    """Keymap entries are kept as given; non-strings and empty strings are warned and dropped."""
    write(pod, '[keymap]\nquit = "ctrl+q"\nfilter = "slash,f"\nhelp = 5\nsave = ""\n'
               'nested = { a = "b" }\n')
    config = load_config(pod)
    assert dict(config.keymap) == {"quit": "ctrl+q", "filter": "slash,f"}
    assert len(config.warnings) == 3
    for name in ("help", "save", "nested"):
        assert sum(f"[keymap] {name} " in w for w in config.warnings) == 1, (name, config.warnings)


def test_keymap_that_is_not_a_table(pod: Path) -> None:
    write(pod, 'keymap = "ctrl+q"\n')
    config = load_config(pod)
    assert dict(config.keymap) == {}
    assert len(config.warnings) == 1 and "[keymap]" in config.warnings[0]


def test_loom_config_overrides_the_pod_file(pod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$LOOM_CONFIG replaces the pod's config.toml entirely (tests, one-off runs)."""
    write(pod, "[console]\nstall_after = 111\n")
    other = tmp_path / "elsewhere.toml"
    other.write_text("[console]\nstall_after = 222\n", encoding="utf-8")
    monkeypatch.setenv("LOOM_CONFIG", str(other))
    assert config_path(pod) == other
    config = load_config(pod)
    assert config.console.stall_after == 222.0
    assert config.path == other


def test_loom_config_expands_the_home_directory(pod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`LOOM_CONFIG=~/x.toml` as typed in a shell rc file must work."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "x.toml").write_text('[console]\ntheme = "loom-contrast"\n', encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOOM_CONFIG", "~/x.toml")
    assert load_config(pod).console.theme == "loom-contrast"


def test_empty_loom_config_means_the_pod_file(pod: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOM_CONFIG", "")
    assert config_path(pod) == pod / CONFIG_NAME


def test_invalid_toml_names_the_file(pod: Path) -> None:
    path = write(pod, "[console\nstall_after = \n")
    with pytest.raises(ConfigError, match=re.escape(str(path))) as info:
        load_config(pod)
    assert "TOML" in str(info.value)


def test_non_utf8_file_names_the_file(pod: Path) -> None:
    path = pod / CONFIG_NAME
    path.write_bytes(b'[console]\ntheme = "\xff"\n')
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_config(pod)


def test_unreadable_path_names_the_file(pod: Path) -> None:
    """A directory where the file should be is a ConfigError, not a raw OSError."""
    (pod / CONFIG_NAME).mkdir()
    with pytest.raises(ConfigError, match=re.escape(str(pod / CONFIG_NAME))):
        load_config(pod)


def test_supervisor_name_honours_loom_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit entries and approvals record who decided; LOOM_USER sets it."""
    monkeypatch.setenv("LOOM_USER", "ana")
    assert supervisor_name() == "ana"


def test_supervisor_name_falls_back_to_the_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset or empty LOOM_USER still yields a real, non-empty name."""
    monkeypatch.setenv("LOOM_USER", "")
    name = supervisor_name()
    assert isinstance(name, str) and name.strip()
    monkeypatch.delenv("LOOM_USER")
    assert supervisor_name() == name
