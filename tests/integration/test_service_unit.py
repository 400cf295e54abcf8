"""`campushub service install` through the real command, its unit read by systemd's own `systemd-analyze verify`.

systemd need not run for that (the tests run where it does not): `verify` loads the unit as systemd
would, reports every setting it cannot parse and checks that ExecStart's program exists. Its debug
output also shows the command line as systemd parsed it, which checks the quoting of a campus.yaml in
a directory with a space and a `%`. The logrotate file is read, and a rotation forced, by logrotate itself
(`make test` installs it); its text is also checked by tests/unit/test_service_unit.py.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers.hub import ADMIN_PASSWORD, CAMPUSHUB, Campus, new_campus

pytestmark = pytest.mark.integration

SYSTEMD_RUNNING = Path("/run/systemd/system")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Stand-ins for /etc/systemd/system and /etc/logrotate.d."""
    units, rotate = tmp_path / "units", tmp_path / "logrotate.d"
    units.mkdir()
    rotate.mkdir()
    return units, rotate


def install(campus: Campus, units: Path, rotate: Path, *more: str, env: dict | None = None):
    return campus.cli("service", "install", "--unit-dir", str(units), "--logrotate-dir", str(rotate), *more, env=env)


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze not found: install Debian's systemd package", pytrace=False)
    return found


def verify(unit: Path) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` on a unit outside systemd's directories, its debug dump kept in stdout+stderr."""
    return subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug", "SYSTEMD_LOG_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def verify_problems(unit: Path) -> list[str]:
    """What `verify` says about the unit at its ordinary log level: every line is a problem."""
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if unit.name in line or str(unit.parent) in line]
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}: {result.stderr.strip()}")
    return problems


def dumped(debug_output: str, key: str) -> str:
    """A setting of the unit as systemd loaded it, from verify's debug dump (`\t\tKey: value`)."""
    values = re.findall(rf"^\s+{re.escape(key)}: (.*)$", debug_output, re.M)
    assert len(values) == 1, (key, values)
    return values[0]


def dumped_commands(debug_output: str) -> dict[str, list[str]]:
    """ExecStart=, ExecReload=... as systemd parsed them: `-> ExecStart:` then `Command Line: ...` in the dump."""
    found = re.findall(r"^\s+-> (Exec\w+):\n\s+Command Line: (.*)$", debug_output, re.M)
    return {setting: shlex.split(line) for setting, line in found}


def settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_install_writes_a_unit_systemd_accepts(campus: Campus, dirs: tuple[Path, Path]) -> None:
    units, rotate = dirs
    result = install(campus, units, rotate, env={"CAMPUSHUB_ADMIN_PASSWORD": ADMIN_PASSWORD})
    assert result.returncode == 0, result.stderr
    unit = units / "campushub.service"
    assert "systemctl daemon-reload && systemctl enable --now campushub" in result.stdout
    assert verify_problems(unit) == []

    text = unit.read_text()
    service = settings(text)
    assert service["KillMode"] == ["process"] and service["Delegate"] == ["cpu memory pids"]
    config = campus.config_path.resolve()
    program, *args = shlex.split(service["ExecStart"][0])
    assert os.path.isabs(program) and os.access(program, os.X_OK)
    assert Path(program).parent == Path(sys.executable).parent  # this install's campushub, not one on the PATH
    assert args == ["up", "-c", str(config)]
    assert service["WorkingDirectory"] == [str(config.parent)]
    assert service["EnvironmentFile"] == [f"-{config.parent / 'data' / 'secrets' / 'campushub.env'}"]
    assert ADMIN_PASSWORD not in text and "CAMPUSHUB_ADMIN_PASSWORD" not in text
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644

    debug = verify(unit)
    assert debug.returncode == 0, debug.stderr
    assert dumped(debug.stdout + debug.stderr, "KillMode") == "process"
    assert dumped(debug.stdout + debug.stderr, "OOMScoreAdjust") == "-900"


def test_a_campus_in_a_directory_with_a_space_and_a_percent_sign(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    campus = new_campus(tmp_path / "campus hub 100%")
    units, rotate = dirs
    result = install(campus, units, rotate)
    assert result.returncode == 0, result.stderr
    unit = units / "campushub.service"
    assert verify_problems(unit) == []
    debug = verify(unit)
    output = debug.stdout + debug.stderr
    config = campus.config_path.resolve()
    commands = dumped_commands(output)
    assert sorted(commands) == ["ExecReload", "ExecStart"]
    program, *args = commands["ExecStart"]
    assert os.access(program, os.X_OK) and args == ["up", "-c", str(config)]
    assert commands["ExecReload"] == [program, "reload", "-c", str(config)]
    assert dumped(output, "WorkingDirectory") == str(config.parent)
    assert dumped(output, "EnvironmentFile") == f"-{config.parent / 'data' / 'secrets' / 'campushub.env'}"
    assert f'"{config.parent / "data" / "logs" / "campushub.log"}" {{' in (rotate / "campushub").read_text()


def test_a_differing_unit_is_kept_unless_forced(campus: Campus, dirs: tuple[Path, Path]) -> None:
    units, rotate = dirs
    assert install(campus, units, rotate).returncode == 0
    unit = units / "campushub.service"
    fresh = unit.read_text()
    again = install(campus, units, rotate)
    assert again.returncode == 0 and f"{unit}: unchanged" in again.stdout

    edited = fresh.replace("TimeoutStopSec=", "TimeoutStopSec=1\n# was ")
    unit.write_text(edited)
    (rotate / "campushub").unlink()
    refused = install(campus, units, rotate)
    assert refused.returncode == 2, refused.stderr
    message = refused.stderr.strip()
    assert message.startswith("campushub: error:") and "\n" not in message and "Traceback" not in message
    assert str(unit) in message and "--force" in message and "TimeoutStopSec=1" in message
    assert unit.read_text() == edited and not (rotate / "campushub").exists()  # nothing was written

    forced = install(campus, units, rotate, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"{unit}: replaced" in forced.stdout
    assert unit.read_text() == fresh and (rotate / "campushub").exists()


def test_a_missing_or_invalid_campus_yaml_is_refused_with_the_loaders_message(
    campus: Campus, dirs: tuple[Path, Path]
) -> None:
    units, rotate = dirs
    missing = install(campus, units, rotate, "-c", "elsewhere.yaml")
    assert missing.returncode == 2
    assert "elsewhere.yaml: no such file. Run `campushub init`" in missing.stderr

    campus.update(**{"compute.idle_timout": "1h"})
    invalid = install(campus, units, rotate)
    assert invalid.returncode == 2
    assert "unknown key `compute.idle_timout`. Did you mean `compute.idle_timeout`?" in invalid.stderr
    assert "Traceback" not in invalid.stderr
    assert list(units.iterdir()) == [] and list(rotate.iterdir()) == []


def test_an_account_that_cannot_write_the_unit_dir_is_told_to_use_sudo(tmp_path: Path) -> None:
    """As root: run as `nobody` against root's directories; otherwise as this account against read-only ones."""
    shared = Path(tempfile.mkdtemp(prefix="campushub-service-"))  # tmp_path is closed to other accounts
    try:
        os.chmod(shared, 0o755)
        campus = new_campus(shared / "campus")
        os.chmod(campus.config_path, 0o644)
        units, rotate = shared / "units", shared / "logrotate.d"
        units.mkdir(mode=0o555)
        rotate.mkdir(mode=0o555)
        as_other = ["runuser", "-u", pwd.getpwnam("nobody").pw_name, "--"] if os.geteuid() == 0 else []
        command = [
            *as_other,
            *CAMPUSHUB,
            "service",
            "install",
            "--unit-dir",
            str(units),
            "--logrotate-dir",
            str(rotate),
        ]
        result = subprocess.run(command, cwd=campus.directory, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{units} cannot be written" in result.stderr
        assert "sudo" in result.stderr and "--unit-dir" in result.stderr
        assert list(units.iterdir()) == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_now_calls_systemctl_only_where_systemd_runs(campus: Campus, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    units, rotate = dirs
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl-calls"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    os.chmod(bin_dir / "systemctl", 0o755)
    result = install(campus, units, rotate, "--now", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert (units / "campushub.service").exists() and (rotate / "campushub").exists()
    if SYSTEMD_RUNNING.is_dir():
        assert result.returncode == 0, result.stderr
        assert calls.read_text().splitlines() == ["daemon-reload", "enable --now campushub.service"]
    else:
        assert result.returncode == 2
        assert "--now: systemd is not running on this machine" in result.stderr
        assert not calls.exists()


def test_show_prints_what_install_writes(campus: Campus, dirs: tuple[Path, Path]) -> None:
    units, rotate = dirs
    shown = campus.cli("service", "show", "--unit-dir", str(units), "--logrotate-dir", str(rotate))
    assert shown.returncode == 0, shown.stderr
    assert list(units.iterdir()) == []
    assert install(campus, units, rotate).returncode == 0
    unit, logrotate = (units / "campushub.service").read_text(), (rotate / "campushub").read_text()
    assert shown.stdout == f"# ---- {units / 'campushub.service'}\n{unit}\n# ---- {rotate / 'campushub'}\n{logrotate}"


def test_uninstall_removes_what_install_wrote(campus: Campus, dirs: tuple[Path, Path]) -> None:
    units, rotate = dirs
    assert install(campus, units, rotate, "--name", "campus-two").returncode == 0
    assert verify_problems(units / "campus-two.service") == []
    wants = units / "multi-user.target.wants"
    wants.mkdir()
    (wants / "campus-two.service").symlink_to(units / "campus-two.service")
    args = ("service", "uninstall", "--unit-dir", str(units), "--logrotate-dir", str(rotate), "--name", "campus-two")
    enabled = campus.cli(*args)
    assert enabled.returncode == 2 and "systemctl disable --now campus-two" in enabled.stderr
    (wants / "campus-two.service").unlink()
    removed = campus.cli(*args)
    assert removed.returncode == 0, removed.stderr
    assert not (units / "campus-two.service").exists() and not (rotate / "campus-two").exists()


def logrotate() -> str | None:
    return shutil.which("logrotate") or next(
        (str(path) for path in (Path("/usr/sbin/logrotate"),) if os.access(path, os.X_OK)), None
    )


def test_the_logrotate_file_rotates_the_hub_log_only(campus: Campus, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """A forced rotation by logrotate itself; its text is read in the unit tests too."""
    units, rotate = dirs
    assert install(campus, units, rotate).returncode == 0
    config_file = rotate / "campushub"
    logs = campus.config_path.resolve().parent / "data" / "logs"
    text = config_file.read_text()
    assert f'"{logs / "campushub.log"}" {{' in text and "copytruncate" in text and "users" not in text.split("{")[1]
    program = logrotate()
    assert program is not None, "logrotate is not installed: `make test-deps` installs it (apt-get install logrotate)"
    (logs / "users").mkdir(mode=0o700, exist_ok=True)
    (logs / "users" / "alice.log").write_text("alice\n")
    hub_log = logs / "campushub.log"
    hub_log.write_text("a line of the hub\n")
    os.chmod(hub_log, 0o600)
    state = tmp_path / "logrotate.state"
    checked = subprocess.run(
        [program, "--debug", "--state", str(state), str(config_file)], capture_output=True, text=True
    )
    assert checked.returncode == 0 and "error" not in checked.stderr.lower(), checked.stderr
    rotated = subprocess.run(
        [program, "--force", "--state", str(state), str(config_file)], capture_output=True, text=True
    )
    assert rotated.returncode == 0, rotated.stderr
    assert hub_log.read_text() == "" and (logs / "campushub.log.1").read_text() == "a line of the hub\n"
    assert stat.S_IMODE((logs / "campushub.log.1").stat().st_mode) == 0o600
    assert sorted(path.name for path in (logs / "users").iterdir()) == ["alice.log"]
