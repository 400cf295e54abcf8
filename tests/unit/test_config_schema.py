"""campus.yaml validation: good files load, every kind of bad file gets one paragraph naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from campushub.config import loader
from campushub.config.loader import load_config, parse_config
from campushub.config.schema import CampusConfig
from campushub.config.sections import parse_duration
from campushub.errors import UserError

EXAMPLE = Path(loader.__file__).parent / "campus.example.yaml"


def config_error(text: str, filename: str = "campus.yaml") -> str:
    """The message of the UserError that parsing `text` raises (and check it is one paragraph)."""
    with pytest.raises(UserError) as info:
        parse_config(text, filename)
    message = str(info.value)
    assert info.value.exit_status == 2
    assert "\n" not in message
    assert "Traceback" not in message
    return message


# --- good files -------------------------------------------------------------------------------------------------


def test_example_file_validates() -> None:
    config = parse_config(EXAMPLE.read_text(encoding="utf-8"), "campus.yaml")
    assert isinstance(config, CampusConfig)
    assert config.admins == ["admin"]
    assert config.compute.idle_timeout == 3600
    assert config.sign_in.local.signup == "closed"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(text: str) -> None:
    config = parse_config(text, "campus.yaml")
    assert config == CampusConfig()
    assert config.name == "CampusHub"
    assert config.listen.ip == "127.0.0.1"
    assert config.listen.port == 8000
    assert config.database.url is None
    assert config.admins == []
    assert config.sign_in.local.signup == "closed"
    assert config.compute.idle_timeout == 3600
    assert config.compute.local.user_prefix == "nb-"


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30m", 1800), ("2h", 7200), ("90", 90), ("'90'", 90), ("90s", 90), ("1d", 86400), ("' 45m '", 2700)],
)
def test_durations_parse_to_seconds(written: str, seconds: int) -> None:
    config = parse_config(f"compute:\n  idle_timeout: {written}\n", "campus.yaml")
    assert config.compute.idle_timeout == seconds


def test_lockout_takes_a_duration() -> None:
    config = parse_config("sign_in:\n  local:\n    lockout: 5m\n", "campus.yaml")
    assert config.sign_in.local.lockout == 300


@pytest.mark.parametrize("value", [90, "90", "30m", "2h", "1d"])
def test_parse_duration_returns_int(value: object) -> None:
    assert isinstance(parse_duration(value), int)


@pytest.mark.parametrize("section", ["database", "listen", "sign_in", "compute"])
def test_empty_section_takes_defaults(section: str) -> None:
    config = parse_config(f"{section}:\n  # nothing here yet\n", "campus.yaml")
    assert getattr(config, section) == getattr(CampusConfig(), section)


def test_empty_nested_section_takes_defaults() -> None:
    config = parse_config("sign_in:\n  local:\ncompute:\n  local:\n", "campus.yaml")
    assert config.sign_in.local == CampusConfig().sign_in.local
    assert config.compute.local == CampusConfig().compute.local


def test_values_are_read() -> None:
    text = (
        "name: Example University\n"
        "listen:\n  ip: 0.0.0.0\n  port: 443\n  tls_cert: /etc/c.pem\n  tls_key: /etc/k.pem\n"
        "admins: [Alice, bob]\n"
        "sign_in:\n  local:\n    signup: invite\n"
    )
    config = parse_config(text, "campus.yaml")
    assert config.name == "Example University"
    assert (config.listen.ip, config.listen.port) == ("0.0.0.0", 443)
    assert config.listen.tls_cert == Path("/etc/c.pem")
    assert config.admins == ["alice", "bob"]
    assert config.sign_in.local.signup == "invite"


# --- unknown keys -----------------------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    message = config_error("name: X\nsign-in:\n  local:\n    signup: open\n")
    assert message.startswith("campus.yaml:2:")
    assert "`sign-in`" in message
    assert "Did you mean `sign_in`?" in message


def test_unknown_nested_key_names_file_line_and_suggestion() -> None:
    text = "# CampusHub\nname: X\ncompute:\n  backend: local\n  idle_timout: 30m\n"
    message = config_error(text, "/srv/campus/campus.yaml")
    assert message.startswith("/srv/campus/campus.yaml:5:")
    assert "`compute.idle_timout`" in message
    assert "Did you mean `compute.idle_timeout`?" in message


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    message = config_error("name: X\nzzzzqqqq: 1\n")
    assert message.startswith("campus.yaml:2:")
    assert "`zzzzqqqq`" in message
    assert "Did you mean" not in message


# --- wrong types and bad values ---------------------------------------------------------------------------------


def test_wrong_type_names_key_path_and_line() -> None:
    message = config_error("name: X\nlisten:\n  ip: 0.0.0.0\n  port: eighty\n")
    assert message.startswith("campus.yaml:4:")
    assert "`listen.port`" in message
    assert "eighty" in message


@pytest.mark.parametrize(
    ("text", "line", "key_path", "hint"),
    [
        ("listen:\n  port: 70000\n", 2, "listen.port", "65535"),
        ("listen:\n  port: 0\n", 2, "listen.port", "1"),
        ("sign_in:\n  local:\n    signup: maybe\n", 3, "sign_in.local.signup", "maybe"),
        ("compute:\n  idle_timeout: 10\n", 2, "compute.idle_timeout", "30"),
        ("compute:\n  idle_timeout: 0\n", 2, "compute.idle_timeout", "30"),
        ("compute:\n  idle_timeout: 5 minutes\n", 2, "compute.idle_timeout", "duration"),
        ("compute:\n  idle_timeout: 2w\n", 2, "compute.idle_timeout", "duration"),
        ("compute:\n  idle_timeout: -5m\n", 2, "compute.idle_timeout", "duration"),
        ("compute:\n  local:\n    user_prefix: Nb-\n", 3, "compute.local.user_prefix", "Nb-"),
        ("compute:\n  local:\n    user_prefix: nb/\n", 3, "compute.local.user_prefix", "nb/"),
        ("compute:\n  local:\n    user_prefix: waytoolongprefix\n", 3, "compute.local.user_prefix", "waytoolong"),
        ("compute:\n  backend: nomad\n", 2, "compute.backend", "nomad"),
        ("sign_in:\n  local:\n    min_password_length: 4\n", 3, "sign_in.local.min_password_length", "8"),
        ("listen:\n  public_url: notebooks.example.edu\n", 1, "listen", "public_url"),
        ("name: ''\n", 1, "name", "1"),
    ],
)
def test_bad_value_names_key_path_and_line(text: str, line: int, key_path: str, hint: str) -> None:
    message = config_error(text)
    assert message.startswith(f"campus.yaml:{line}:")
    assert f"`{key_path}`" in message
    assert hint in message


@pytest.mark.parametrize("present", ["tls_cert: /etc/c.pem", "tls_key: /etc/k.pem"])
def test_tls_cert_and_key_go_together(present: str) -> None:
    message = config_error(f"name: X\nlisten:\n  port: 443\n  {present}\n")
    assert message.startswith("campus.yaml:2:")
    assert "`listen`" in message
    assert "tls_cert" in message and "tls_key" in message


@pytest.mark.parametrize("bad", ["'bad name'", "'1alice'", "'../etc'", "''", "'al/ice'"])
def test_admins_must_be_valid_usernames(bad: str) -> None:
    message = config_error(f"name: X\nadmins:\n  - alice\n  - {bad}\n")
    assert message.startswith("campus.yaml:")
    assert "`admins" in message


def test_several_errors_are_counted() -> None:
    message = config_error("listen:\n  port: 70000\ncompute:\n  idle_timeout: 1\n")
    assert "1 more problem after this one" in message


# --- not YAML, not a mapping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("# comment\nlisten:\n  ip: a: b\n", 3),
        ("name: x\n\tlisten: 1\n", 2),
        ("name: ok\nlisten:\n  port: 1\n bad\n", 4),
        ("name: a\nname: b\n", 2),
    ],
)
def test_invalid_yaml_gives_file_and_line(text: str, line: int) -> None:
    message = config_error(text)
    assert message.startswith(f"campus.yaml:{line}:")
    assert "not valid YAML" in message


@pytest.mark.parametrize("text", ["- name\n- listen\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    message = config_error(text)
    assert message.startswith("campus.yaml:1:")
    assert "mapping" in message


# --- load_config ------------------------------------------------------------------------------------------------


def test_load_config_missing_file_says_run_init(tmp_path: Path) -> None:
    missing = tmp_path / "campus.yaml"
    with pytest.raises(UserError) as info:
        load_config(missing)
    message = str(info.value)
    assert info.value.exit_status == 2
    assert str(missing) in message
    assert "campushub init" in message
    assert "\n" not in message


def test_load_config_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "campus.yaml"
    path.write_text("name: X\nlisten:\n  port: eighty\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path.resolve()}:3:")


def test_load_config_resolves_relative_paths_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    campus_dir = tmp_path / "campus"
    campus_dir.mkdir()
    (campus_dir / "campus.yaml").write_text(
        "data_dir: state\nlisten:\n  tls_cert: tls/cert.pem\n  tls_key: /etc/key.pem\ncompute:\n  environment: env\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(Path("../campus/campus.yaml"))
    resolved_dir = campus_dir.resolve()
    assert loaded.path == resolved_dir / "campus.yaml"
    assert loaded.config.data_dir == resolved_dir / "state"
    assert loaded.config.listen.tls_cert == resolved_dir / "tls" / "cert.pem"
    assert loaded.config.listen.tls_key == Path("/etc/key.pem")
    assert loaded.config.compute.environment == resolved_dir / "env"


def test_load_config_default_data_dir_is_beside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "campus.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config(path).config.data_dir == tmp_path.resolve() / "data"


def test_load_config_reads_the_example(tmp_path: Path) -> None:
    path = tmp_path / "campus.yaml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = load_config(path)
    assert loaded.config.data_dir == tmp_path.resolve() / "data"
    assert loaded.config.admins == ["admin"]
