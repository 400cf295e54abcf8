"""`campushub service`: the systemd unit that runs `campushub up`, and the logrotate file of its log.

Writing the unit by hand went wrong in ways that only show much later: a kill mode that lets systemd
kill users' servers behind CampusHub's back, a relative campus.yaml, a secret pasted into the unit (which
every account can read with `systemctl show`), a sandboxing setting that breaks `useradd`. So the unit
is derived from campus.yaml and this install, by pure functions (`plan_for`, `unit_text`,
`logrotate_text`) that the tests check against systemd's and logrotate's own readers, and written by
a small writer that never replaces a file someone changed unless told to (`--force`).

How the unit treats processes, and why:

- `KillMode=process`: the stop signal goes to `campushub up` alone, which stops the processes it runs
  (the hub, which stops the proxy and its services, and the fork server) in order. systemd kills nothing
  else of the unit, not even at the stop timeout, so what happens to users' servers is CampusHub's
  decision: they may outlive a restart, and the next `up` finds them again. systemd leaves processes it
  finds in the unit at a start alone (it notes them as "left-over process" in the journal).
- `Delegate=cpu memory pids`: the unit's cgroup subtree is CampusHub's to shape (a cgroup per user's
  server, with limits of its own); systemd does not touch cgroups it did not make. On cgroup v2, a
  cgroup whose children have controllers enabled may hold no process itself, so CampusHub moves its own
  processes into a leaf of the subtree before it enables controllers for users' cgroups (systemd 252
  has no `DelegateSubgroup=` to do it).
- `OOMScoreAdjust=-900`: the OOM killer spares the hub. Every process the hub starts inherits the
  score, so CampusHub gives users' servers a score of their own when it starts them.

No sandboxing settings: in root mode CampusHub creates system accounts with useradd (which writes
/etc), makes homes under /home and switches to each user's account, and users' servers are its
children, so each restriction would bind them as well.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from campushub.config.loader import load_config
from campushub.errors import UserError
from campushub.hub.layout import Layout, layout_for

SYSTEMD_RUNNING = Path("/run/systemd/system")  # exists exactly when systemd is the init system (sd_booted(3))
ENVIRONMENT_FILE = "campushub.env"  # in data_dir/secrets: NAME=value lines for campus.yaml's ${NAME} values
HUB_LOG = "campushub.log"
MARK = "Written by `campushub service install`"
RESTART_SEC = 5
# More than `up` itself takes at most to stop what it runs (SIGTERM, then SIGKILL after 30 s, for the hub
# and then the fork server): systemd's own SIGKILL, at this timeout, is for an `up` that hangs.
TIMEOUT_STOP_SEC = 90
NOFILE = 65536
OOM_SCORE_ADJUST = -900
DELEGATE = "cpu memory pids"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOGROTATE_SPECIAL = re.compile(r"[\"'\\*?\[\]{}]")


@dataclass(frozen=True)
class ServicePlan:
    """What the unit and the logrotate file say, all paths absolute."""

    name: str
    config_path: Path
    campushub: tuple[str, ...]  # this install's `campushub`, absolute
    hub_log: Path
    environment_file: Path
    description: str

    @property
    def unit_name(self) -> str:
        return f"{self.name}.service"

    @property
    def command(self) -> tuple[str, ...]:
        """ExecStart's words: `campushub up` with this campus.yaml."""
        return (*self.campushub, "up", "-c", str(self.config_path))

    @property
    def reload_command(self) -> tuple[str, ...]:
        """ExecReload's words: `campushub reload` checks campus.yaml before it signals `up`, and waits for the hub."""
        return (*self.campushub, "reload", "-c", str(self.config_path))

    @property
    def working_directory(self) -> Path:
        """campus.yaml's directory, where an operator runs `campushub` by hand too."""
        return self.config_path.parent


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    text: str


def valid_name(name: str) -> str:
    """The unit's name (NAME.service) and the logrotate file's; plain, so that no template or path hides in it."""
    if not _NAME.match(name):
        raise UserError(
            f"--name {name!r}: use letters, digits, `-` and `_` (at most 64, starting with a letter or digit)."
        )
    return name


def campushub_command() -> tuple[str, ...]:
    """This install's `campushub`, absolute: the script beside the running Python (the venv's), else `python -m`.

    The unit must run the same CampusHub that wrote it, not whichever `campushub` comes first on a PATH.
    """
    python = Path(os.path.abspath(sys.executable))
    script = python.parent / "campushub"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (str(python), "-m", "campushub")


def plan_for(config_path: Path, layout: Layout, institution: str, name: str, command: Sequence[str]) -> ServicePlan:
    """The unit for the campus.yaml at `config_path` (absolute), whose layout is `layout`."""
    if not config_path.is_absolute():
        raise ValueError(f"not absolute: {config_path}")
    plain = " ".join(_CONTROL.sub(" ", institution).split())
    return ServicePlan(
        name=valid_name(name),
        config_path=config_path,
        campushub=tuple(command),
        hub_log=layout.logs_dir / HUB_LOG,
        environment_file=layout.secrets_dir / ENVIRONMENT_FILE,
        description="CampusHub" if plain in ("", "CampusHub") else f"CampusHub: {plain}",
    )


def _no_control(text: str, what: str) -> str:
    if _CONTROL.search(text):
        raise UserError(f"{what} {text!r} has a control character (a line break?), which a unit cannot hold.")
    return text


def systemd_word(word: str) -> str:
    """One word of a unit's command line, as systemd.service(5) reads it ("Command lines").

    `%` starts a specifier and `$` a variable, so they are doubled; a word with anything beyond a plain
    path's characters is double-quoted, with `\\` and `"` escaped, so that a space (or a `;`) stays inside it.
    """
    _no_control(word, "the command word")
    escaped = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN_WORD.match(word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_command(words: Sequence[str]) -> str:
    return " ".join(systemd_word(word) for word in words)


def systemd_path(path: Path) -> str:
    """A path setting's value (WorkingDirectory=, EnvironmentFile=): taken as it is, but for `%` specifiers.

    A backslash is refused: at the end of a line it continues the line, and elsewhere it is easy to misread.
    """
    text = _no_control(str(path), "the path")
    if "\\" in text:
        raise UserError(f"{text}: a path with a backslash cannot be named in a systemd unit; move it.")
    return text.replace("%", "%%")


def unit_text(plan: ServicePlan) -> str:
    """The systemd unit; the comments say why each setting is there, for whoever reads it on the machine."""
    name = plan.name
    return f"""\
# {plan.unit_name}: CampusHub for {_no_control(str(plan.config_path), "campus.yaml")}
# {MARK}, which writes it again (with --force) from campus.yaml.
# Do not edit this file: change a setting with a drop-in, which is kept when the unit is written again:
#     systemctl edit {name}        (then: systemctl restart {name})
# No secrets here (every account can read a unit): put campus.yaml's ${{NAME}} values as NAME=value lines in
# {plan.environment_file} (mode 0600), read at each start when it exists.

[Unit]
Description={plan.description.replace("%", "%%")}
Wants=network-online.target
After=network-online.target
# A campus.yaml that no longer loads makes `up` fail at once: give up after 5 starts within 5 minutes
# (`systemctl reset-failed {name}` lets it start again).
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
WorkingDirectory={systemd_path(plan.working_directory)}
ExecStart={systemd_command(plan.command)}
# `systemctl reload {name}`: a changed campus.yaml, applied without stopping anyone's server.
ExecReload={systemd_command(plan.reload_command)}
Environment=PYTHONUNBUFFERED=1
EnvironmentFile=-{systemd_path(plan.environment_file)}
Restart=on-failure
RestartSec={RESTART_SEC}
# SIGTERM to `campushub up` alone: it stops the hub, the proxy and the fork server in order. systemd kills no
# other process of the unit, at a stop or a restart, so users' servers run or stop as CampusHub decides.
KillMode=process
# CampusHub puts users' servers in cgroups of their own below the unit's, with limits; systemd leaves them alone.
Delegate={DELEGATE}
TimeoutStopSec={TIMEOUT_STOP_SEC}
# Every server, kernel connection and proxy route holds file descriptors.
LimitNOFILE={NOFILE}
# The OOM killer spares the hub. Processes inherit the score: CampusHub gives users' servers one of their own.
OOMScoreAdjust={OOM_SCORE_ADJUST}
StandardOutput=journal
StandardError=journal
SyslogIdentifier={name}
# No sandboxing (ProtectSystem=, ProtectHome=, PrivateTmp=, NoNewPrivileges=, PrivateUsers=...): as root,
# CampusHub creates system accounts with useradd (which writes /etc), makes homes under /home and switches
# to each user's account, and users' servers are its children, so every restriction would bind them too
# (PrivateTmp= would hide their /tmp from `campushub users remove`).

[Install]
WantedBy=multi-user.target
"""


def logrotate_path(path: Path) -> str:
    """The log's path for logrotate, which expands patterns (`*`, `?`, `[`) and reads quotes and braces itself."""
    text = str(path)
    if _CONTROL.search(text) or _LOGROTATE_SPECIAL.search(text):
        raise UserError(
            f"{text}: logrotate would read a character of this path as a pattern or a quote; "
            "choose a data_dir without quotes, backslashes, braces, brackets, `*` or `?`."
        )
    return f'"{text}"'


def logrotate_text(plan: ServicePlan) -> str:
    """The hub log only: users' server logs (logs/users/) are capped and rotated by CampusHub itself.

    `up` keeps the log open in append mode while it runs, so the file is copied and truncated in place
    (copytruncate) rather than moved: `up` writes on at the start of the same file. The copies keep the
    log's owner and mode (0600), so no `create` is needed (logrotate ignores it with copytruncate). The
    logs directory is root's and 0700, so logrotate needs no `su`.
    """
    return f"""\
# {plan.name}: logrotate for CampusHub's hub log ({_no_control(str(plan.config_path), "campus.yaml")})
# {MARK}, which writes it again (with --force).
# Only the hub's log: CampusHub caps and rotates users' server logs (logs/users/) itself.
# copytruncate: `campushub up` keeps the log open; the copies keep its mode (0600).
{logrotate_path(plan.hub_log)} {{
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}}
"""


def planned_files(plan: ServicePlan, unit_dir: Path, logrotate_dir: Path) -> list[PlannedFile]:
    return [
        PlannedFile(unit_dir / plan.unit_name, unit_text(plan)),
        PlannedFile(logrotate_dir / plan.name, logrotate_text(plan)),
    ]


def first_difference(current: str, new: str) -> str:
    """Where two texts part, in a few words: `line 12: "..." there, "..." in the new one`."""
    old_lines, new_lines = current.splitlines(), new.splitlines()
    for number, (old, fresh) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if old != fresh:
            return f"line {number}: {_short(old)} there, {_short(fresh)} in the new one"
    number = min(len(old_lines), len(new_lines)) + 1
    if len(old_lines) > len(new_lines):
        return f"line {number}: {_short(old_lines[number - 1])} there, nothing in the new one"
    if len(new_lines) > len(old_lines):
        return f"line {number}: nothing there, {_short(new_lines[number - 1])} in the new one"
    return "line endings"


def _short(line: str, width: int = 70) -> str:
    return repr(line if len(line) <= width else line[: width - 3] + "...")


def check_writable(directory: Path, option: str) -> None:
    """Refuse before writing anything: a missing directory, or one this account may not write."""
    if not directory.is_dir():
        raise UserError(f"{directory}: no such directory; pass {option} DIR to write the file elsewhere.")
    if not os.access(directory, os.W_OK):
        who = "this account" if os.geteuid() != 0 else "root"
        raise UserError(
            f"{directory} cannot be written by {who}: run the command as root (sudo), "
            f"or pass {option} DIR to write the file elsewhere."
        )


def write_files(files: Sequence[PlannedFile], force: bool) -> list[str]:
    """Write each file, or refuse them all when one exists with other text and `force` is not given.

    Returns a line per file for the operator: written, replaced or unchanged.
    """
    for planned in files:
        current = _read(planned.path)
        if current is not None and current != planned.text and not force:
            kept = " (a drop-in made with `systemctl edit` is kept)" if planned.path.suffix == ".service" else ""
            raise UserError(
                f"{planned.path} exists and differs from what CampusHub would write "
                f"({first_difference(current, planned.text)}); nothing was written. Re-run with --force to "
                f"replace it{kept}."
            )
    notes = []
    for planned in files:
        current = _read(planned.path)
        if current == planned.text:
            notes.append(f"{planned.path}: unchanged")
            continue
        _write(planned.path, planned.text)
        notes.append(f"{planned.path}: {'replaced' if current is not None else 'written'}")
    return notes


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc}).") from None


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a half-written unit would be read by the next daemon-reload."""
    temporary = path.with_name(f".{path.name}.campushub-new")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot be written ({exc.strerror}).") from None


def systemd_running(marker: Path = SYSTEMD_RUNNING) -> bool:
    return marker.is_dir()


def next_steps(plan: ServicePlan, unit_dir: Path, marker: Path = SYSTEMD_RUNNING) -> list[str]:
    """What the operator runs next; `--now` runs it."""
    lines = [f"Next: systemctl daemon-reload && systemctl enable --now {plan.name}"]
    if unit_dir.resolve() not in (Path("/etc/systemd/system"), Path("/run/systemd/system")):
        lines.append(f"  (systemd reads units from /etc/systemd/system: copy {plan.unit_name} there first)")
    if not systemd_running(marker):
        lines.append(f"  systemd is not running on this machine ({marker} is missing): run that where it is.")
    lines.append(f"Secrets (campus.yaml's ${{NAME}} values): NAME=value lines in {plan.environment_file}, mode 0600.")
    return lines


def start_now(plan: ServicePlan, marker: Path = SYSTEMD_RUNNING, systemctl: str = "systemctl") -> list[str]:
    """`systemctl daemon-reload` and `systemctl enable --now`, only where systemd runs (never in a container)."""
    if not systemd_running(marker):
        raise UserError(
            f"--now: systemd is not running on this machine ({marker} is missing), so nothing was started; "
            f"the files are written. Start it with `campushub up`, or where systemd runs with "
            f"`systemctl daemon-reload && systemctl enable --now {plan.name}`."
        )
    program = shutil.which(systemctl) or systemctl
    done = []
    for args in (["daemon-reload"], ["enable", "--now", plan.unit_name]):
        result = subprocess.run([program, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            said = " ".join((result.stderr or result.stdout).split()) or f"exit status {result.returncode}"
            raise UserError(f"`systemctl {' '.join(args)}` failed: {said}")
        done.append(f"systemctl {' '.join(args)}: done")
    done.append(f"Status: systemctl status {plan.name}; log: journalctl -u {plan.name}")
    return done


def remove_files(unit_dir: Path, logrotate_dir: Path, name: str, force: bool) -> list[str]:
    """Remove the unit and the logrotate file, only if CampusHub wrote them (or `force`) and the unit is disabled.

    An enabled unit's links (multi-user.target.wants/...) would be left dangling, so that comes first; the
    drop-ins of `systemctl edit` (NAME.service.d/) are the operator's, and stay.
    """
    unit_name = f"{valid_name(name)}.service"
    enabled = sorted(unit_dir.glob(f"*.wants/{unit_name}")) + sorted(unit_dir.glob(f"*.requires/{unit_name}"))
    if enabled:
        raise UserError(
            f"{unit_name} is still enabled ({enabled[0]}): run `systemctl disable --now {name}` first; "
            "nothing was removed."
        )
    paths = [unit_dir / unit_name, logrotate_dir / name]
    for path in paths:
        current = _read(path)
        if current is not None and MARK not in current and not force:
            raise UserError(
                f"{path} was not written by `campushub service install`; nothing was removed. "
                "Re-run with --force to remove it anyway."
            )
    notes = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            notes.append(f"{path}: not there")
            continue
        except OSError as exc:
            raise UserError(f"{path}: cannot be removed ({exc.strerror}).") from None
        notes.append(f"{path}: removed")
    return notes


def plan_from_file(config_path: Path, name: str) -> ServicePlan:
    """The plan for a campus.yaml on disk, which must load (the loader's own error otherwise)."""
    config = load_config(config_path).config
    absolute = Path(os.path.abspath(config_path))  # as given, symlinks kept: the operator's name for it
    return plan_for(absolute, layout_for(config), config.name, name, campushub_command())


def install(config_path: Path, unit_dir: Path, logrotate_dir: Path, name: str, force: bool, now: bool) -> list[str]:
    """`campushub service install`: the lines to print. Everything is checked before anything is written."""
    plan = plan_from_file(config_path, name)
    files = planned_files(plan, unit_dir, logrotate_dir)
    check_writable(unit_dir, "--unit-dir")
    check_writable(logrotate_dir, "--logrotate-dir")
    notes = write_files(files, force)
    notes.append(f"It runs: {shlex.join(plan.command)}")
    if notes[0].endswith(": replaced"):
        notes.append(f"A running CampusHub runs on as before: `systemctl restart {plan.name}` applies the new unit.")
    if now:
        return notes + start_now(plan)
    return notes + next_steps(plan, unit_dir)


def uninstall(unit_dir: Path, logrotate_dir: Path, name: str, force: bool) -> list[str]:
    """`campushub service uninstall`: the lines to print."""
    for directory, option in ((unit_dir, "--unit-dir"), (logrotate_dir, "--logrotate-dir")):
        check_writable(directory, option)
    notes = remove_files(unit_dir, logrotate_dir, name, force)
    notes.append(f"Next: systemctl daemon-reload (drop-ins in {unit_dir / (name + '.service.d')} are kept)")
    return notes


def show(config_path: Path, unit_dir: Path, logrotate_dir: Path, name: str) -> str:
    """`campushub service show`: both files as `install` would write them, each under its path."""
    plan = plan_from_file(config_path, name)
    return "\n".join(
        f"# ---- {planned.path}\n{planned.text}" for planned in planned_files(plan, unit_dir, logrotate_dir)
    )
