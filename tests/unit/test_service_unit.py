"""The systemd unit and the logrotate file `campushub service install` writes, as text: quoting, settings, refusals.

systemd's and logrotate's own readers check the written files in tests/integration/test_service_unit.py;
here the text mappers are read back with small readers that follow the two formats' documented rules
(systemd.service(5) "Command lines", logrotate(8)), so that every case runs in milliseconds.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from campushub import service_unit
from campushub.errors import UserError
from campushub.hub.layout import Layout
from campushub.service_unit import (
    MARK,
    PlannedFile,
    ServicePlan,
    first_difference,
    logrotate_text,
    plan_for,
    remove_files,
    start_now,
    systemd_command,
    systemd_path,
    systemd_word,
    unit_text,
    write_files,
)

PYTHON_ENV = Path("/opt/campus hub/.venv")
CAMPUSHUB = str(PYTHON_ENV / "bin" / "campushub")


def layout(data_dir: Path) -> Layout:
    return Layout(data_dir=data_dir, environment=PYTHON_ENV, proxy_command="proxy", running_as_root=True)


def plan(config_path: Path = Path("/etc/campushub/campus.yaml"), **changes: object) -> ServicePlan:
    data_dir = Path(str(changes.pop("data_dir", config_path.parent / "data")))
    made = plan_for(
        config_path, layout(data_dir), str(changes.pop("institution", "CampusHub")), "campushub", [CAMPUSHUB]
    )
    assert not changes, changes
    return made


# Reading a unit back, as systemd does


_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "s": " "}


def systemd_words(line: str) -> list[str]:
    """A command line's words, by systemd's rules: quotes group, backslashes escape, `%%` and `$$` stand for one."""
    words: list[str] = []
    index = 0
    while index < len(line):
        if line[index].isspace():
            index += 1
            continue
        word, quote = "", None
        while index < len(line) and (quote or not line[index].isspace()):
            char = line[index]
            if char == "\\":
                word += _ESCAPES[line[index + 1]]
                index += 2
                continue
            if char in "\"'" and quote in (None, char):
                quote = None if quote else char
            elif char in "%$":
                assert line[index + 1] == char, f"a lone {char} in {line!r}: systemd would expand it"
                word += char
                index += 1
            else:
                word += char
            index += 1
        assert quote is None, f"unbalanced quote in {line!r}"
        words.append(word)
    return words


def settings(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values, comments left out (a key may repeat)."""
    found: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            found[section] = {}
            continue
        assert section is not None, line
        key, _, value = line.partition("=")
        found[section].setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize(
    "word",
    [
        "/opt/campushub/.venv/bin/campushub",
        "/srv/campus hub/campus.yaml",
        "/srv/100%/campus.yaml",
        "/srv/$HOME/${USER}/campus.yaml",
        '/srv/say "hi"/campus.yaml',
        "/srv/back\\slash/campus.yaml",
        "/srv/it's/campus.yaml",
        ";",
        "",
        "-c",
    ],
)
def test_a_command_word_reads_back_as_itself(word: str) -> None:
    assert systemd_words(systemd_command(["/bin/true", word, "end"])) == ["/bin/true", word, "end"]


def test_plain_words_stay_unquoted_and_the_rest_is_quoted() -> None:
    assert systemd_word("/opt/campushub/.venv/bin/campushub") == "/opt/campushub/.venv/bin/campushub"
    assert systemd_word("/srv/campus hub/campus.yaml") == '"/srv/campus hub/campus.yaml"'
    assert systemd_word("/srv/100%/x") == "/srv/100%%/x"
    assert systemd_word("$HOME") == '"$$HOME"'
    assert systemd_word('a"b\\c') == '"a\\"b\\\\c"'
    assert systemd_word(";") == '";"'  # a lone `;` would be read as a separator
    assert systemd_word("") == '""'


@pytest.mark.parametrize("word", ["/srv/a\nb", "/srv/tab\there", "/srv/\x7f"])
def test_a_control_character_is_refused(word: str) -> None:
    with pytest.raises(UserError, match="control character"):
        systemd_word(word)


def test_path_settings_escape_specifiers_and_refuse_backslashes() -> None:
    assert systemd_path(Path("/srv/campus hub/100%")) == "/srv/campus hub/100%%"
    with pytest.raises(UserError, match="backslash"):
        systemd_path(Path("/srv/a\\b"))


def test_exec_start_and_reload_run_this_campushub_with_the_absolute_campus_yaml() -> None:
    config = Path("/srv/campus hub 100%/campus.yaml")
    service = settings(unit_text(plan(config)))["Service"]
    (exec_start,) = service["ExecStart"]
    assert systemd_words(exec_start) == [CAMPUSHUB, "up", "-c", str(config)]
    (exec_reload,) = service["ExecReload"]
    assert systemd_words(exec_reload) == [CAMPUSHUB, "reload", "-c", str(config)]
    assert service["WorkingDirectory"] == ["/srv/campus hub 100%%"]


def test_a_relative_campus_yaml_is_a_mistake_of_the_caller() -> None:
    with pytest.raises(ValueError, match="not absolute"):
        plan(Path("campus.yaml"))


def test_the_unit_keeps_users_servers_out_of_systemds_hands() -> None:
    unit = settings(unit_text(plan()))
    service = unit["Service"]
    assert service["KillMode"] == ["process"]
    assert service["Delegate"] == ["cpu memory pids"]
    assert service["Type"] == ["simple"]
    assert service["Restart"] == ["on-failure"] and int(service["RestartSec"][0]) > 0
    assert int(service["TimeoutStopSec"][0]) >= 30
    assert int(service["LimitNOFILE"][0]) >= 65536
    assert service["OOMScoreAdjust"] == ["-900"]
    assert service["Environment"] == ["PYTHONUNBUFFERED=1"]
    assert service["StandardOutput"] == ["journal"]
    assert unit["Unit"]["After"] == ["network-online.target"] and unit["Unit"]["Wants"] == ["network-online.target"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_secrets_come_from_an_optional_file_in_the_data_dir_never_from_the_unit() -> None:
    text = unit_text(plan(data_dir=Path("/var/lib/campushub")))
    assert settings(text)["Service"]["EnvironmentFile"] == ["-/var/lib/campushub/secrets/campushub.env"]
    assert not re.search(r"(?i)password|secret\s*=|token", "\n".join(settings(text)["Service"]["Environment"]))


def test_no_sandboxing_setting_that_breaks_root_mode() -> None:
    service = settings(unit_text(plan()))["Service"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "PrivateUsers", "User"):
        assert key not in service, key


def test_the_header_says_who_wrote_it_and_how_to_change_it() -> None:
    text = unit_text(plan())
    header = text.split("[Unit]")[0]
    assert MARK in header and "systemctl edit campushub" in header
    assert "/etc/campushub/campus.yaml" in header


def test_the_institutions_name_describes_the_unit() -> None:
    assert settings(unit_text(plan(institution="Uni 100%\nExample")))["Unit"]["Description"] == [
        "CampusHub: Uni 100%% Example"
    ]
    assert settings(unit_text(plan()))["Unit"]["Description"] == ["CampusHub"]


@pytest.mark.parametrize("name", ["campus@hub", "../campushub", "campus hub", "", "-x", "a" * 65])
def test_a_unit_name_that_is_not_plain_is_refused(name: str) -> None:
    with pytest.raises(UserError, match="--name"):
        plan_for(Path("/srv/campus.yaml"), layout(Path("/srv/data")), "CampusHub", name, [CAMPUSHUB])


# Reading the logrotate file back


def logrotate_stanzas(text: str) -> dict[str, list[str]]:
    """path -> directives, as logrotate(8) reads a file: `#` comments, a quoted path, directives in braces."""
    stanzas: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if current is None:
            match = re.fullmatch(r'"(?P<path>[^"]+)"\s*\{', line)
            assert match, f"not a quoted path opening a stanza: {line!r}"
            current = stanzas.setdefault(match["path"], [])
        elif line == "}":
            current = None
        else:
            assert "{" not in line and "}" not in line, line
            current.append(line)
    assert current is None, "a stanza is not closed"
    return stanzas


def test_logrotate_rotates_the_hub_log_alone_by_copy_and_truncate() -> None:
    data_dir = Path("/srv/campus hub/data")
    text = logrotate_text(plan(data_dir=data_dir))
    assert logrotate_stanzas(text) == {
        "/srv/campus hub/data/logs/campushub.log": [
            "weekly",
            "rotate 8",
            "compress",
            "delaycompress",
            "missingok",
            "notifempty",
            "copytruncate",
        ]
    }
    assert "users/" not in text.replace("(logs/users/)", "")  # users' logs: CampusHub rotates them itself
    assert MARK in text


@pytest.mark.parametrize("character", ["*", "?", "[", "{", "}", '"', "'", "\\", "\n"])
def test_a_data_dir_logrotate_would_misread_is_refused(character: str) -> None:
    with pytest.raises(UserError):
        logrotate_text(plan(data_dir=Path(f"/srv/odd{character}dir/data")))


# The writer


def test_first_difference_names_the_line() -> None:
    assert first_difference("a\nb\nc\n", "a\nB\nc\n") == "line 2: 'b' there, 'B' in the new one"
    assert first_difference("a\n", "a\nb\n") == "line 2: nothing there, 'b' in the new one"
    assert first_difference("a\nb\n", "a\n") == "line 2: 'b' there, nothing in the new one"
    assert first_difference("a\r\n", "a\n") == "line endings"


def test_write_files_writes_refuses_and_forces(tmp_path: Path) -> None:
    unit, rotate = tmp_path / "campushub.service", tmp_path / "campushub"
    files = [PlannedFile(unit, "one\ntwo\n"), PlannedFile(rotate, "rotate\n")]
    assert write_files(files, force=False) == [f"{unit}: written", f"{rotate}: written"]
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert write_files(files, force=False) == [f"{unit}: unchanged", f"{rotate}: unchanged"]
    unit.write_text("one\nedited\n")
    rotate.unlink()
    with pytest.raises(UserError) as refused:
        write_files(files, force=False)
    message = str(refused.value)
    assert "\n" not in message and str(unit) in message and "--force" in message and "line 2" in message
    assert unit.read_text() == "one\nedited\n" and not rotate.exists()  # nothing written at all
    assert write_files(files, force=True) == [f"{unit}: replaced", f"{rotate}: written"]
    assert unit.read_text() == "one\ntwo\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["campushub", "campushub.service"]


def test_remove_files_only_what_campushub_wrote_and_only_when_disabled(tmp_path: Path) -> None:
    units, rotate = tmp_path / "units", tmp_path / "logrotate"
    units.mkdir()
    rotate.mkdir()
    (units / "campushub.service").write_text(f"# {MARK}\n")
    (rotate / "campushub").write_text("# written by hand\n")
    with pytest.raises(UserError, match="not written by `campushub service install`"):
        remove_files(units, rotate, "campushub", force=False)
    wants = units / "multi-user.target.wants"
    wants.mkdir()
    (wants / "campushub.service").symlink_to(units / "campushub.service")
    with pytest.raises(UserError, match=r"still enabled.*systemctl disable --now campushub"):
        remove_files(units, rotate, "campushub", force=True)
    (wants / "campushub.service").unlink()
    assert remove_files(units, rotate, "campushub", force=True) == [
        f"{units / 'campushub.service'}: removed",
        f"{rotate / 'campushub'}: removed",
    ]
    assert remove_files(units, rotate, "campushub", force=False)[0].endswith(": not there")


# --now


def fake_systemctl(tmp_path: Path, status: int = 0) -> tuple[Path, Path]:
    """A `systemctl` that notes its arguments, one call a line, and exits with `status`."""
    calls = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\necho "it failed" >&2\nexit {status}\n')
    os.chmod(script, 0o755)
    return script, calls


def test_now_reloads_and_enables_where_systemd_runs(tmp_path: Path) -> None:
    script, calls = fake_systemctl(tmp_path)
    running = tmp_path / "run-systemd-system"
    running.mkdir()
    lines = start_now(plan(), marker=running, systemctl=str(script))
    assert calls.read_text().splitlines() == ["daemon-reload", "enable --now campushub.service"]
    assert any("journalctl -u campushub" in line for line in lines)


def test_now_says_what_systemctl_said_when_it_fails(tmp_path: Path) -> None:
    script, calls = fake_systemctl(tmp_path, status=1)
    with pytest.raises(UserError, match="`systemctl daemon-reload` failed: it failed"):
        start_now(plan(), marker=tmp_path, systemctl=str(script))
    assert calls.read_text().splitlines() == ["daemon-reload"]


def test_now_never_runs_systemctl_without_systemd(tmp_path: Path) -> None:
    script, calls = fake_systemctl(tmp_path)
    with pytest.raises(UserError, match="systemd is not running"):
        start_now(plan(), marker=tmp_path / "missing", systemctl=str(script))
    assert not calls.exists()


def test_the_cli_defaults_are_systemds_and_logrotates_directories() -> None:
    from campushub.cli import service_install

    defaults = {param.name: param.default for param in service_install.params}
    assert defaults["unit_dir"] == Path("/etc/systemd/system")
    assert defaults["logrotate_dir"] == Path("/etc/logrotate.d")
    assert defaults["name"] == "campushub"
    assert str(service_unit.SYSTEMD_RUNNING) == "/run/systemd/system"
