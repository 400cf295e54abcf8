"""`campushub up`: JupyterHub (which runs the proxy and the services) in the foreground, supervised.

JupyterHub runs as a child process so that everything it and its children
print reaches both the console and data_dir/logs/campushub.log, with
anything that looks like a secret masked, and so that `up` can restart it
(campushub/supervisor.py) while users' servers keep running. Users' servers
are not among its output: theirs is theirs to shape, so it goes to
data_dir/logs/users/<name>.log (compute/user_logs.py) and never into this log.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from campushub.compute.backend import BesideHub
from campushub.compute.processes import process_alive
from campushub.compute.profile_settings import backends_in_use
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import SNAPSHOT_ENV
from campushub.hub.layout import Layout
from campushub.hub.lifeline import adopt_orphans, on_lifeline
from campushub.supervisor import Child, Supervisor

HUB_CONFIG = Path(__file__).parent / "hub" / "jupyterhub_config.py"
_SECRETS = (
    re.compile(r"(?i)((?:token|password|secret|_xsrf)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
    re.compile(r"(?i)(authorization:\s*(?:token|bearer|basic)\s+)\S+"),
    re.compile(r"(xsrf cookie for )b'[^']*'"),
)
_HUB_READY = "JupyterHub is now running at"


def mask_secrets(line: str) -> str:
    for pattern in _SECRETS:
        line = pattern.sub(r"\1[hidden]", line)
    return line


def local_url(config: CampusConfig) -> str:
    """The URL of the proxy as seen from this machine."""
    listen = config.listen
    host = "127.0.0.1" if listen.ip in ("0.0.0.0", "") else listen.ip
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if listen.tls_cert else 'http'}://{host}:{listen.port}/"


def public_url(config: CampusConfig) -> str:
    return config.listen.public_url or local_url(config)


def _tee(stream: IO[str], log_file: IO[str], ready_banner: str) -> None:
    for line in stream:
        line = mask_secrets(line)
        if _HUB_READY in line:
            line += ready_banner
        sys.stdout.write(line)
        sys.stdout.flush()
        log_file.write(line)
        log_file.flush()


def start_beside(process: BesideHub, output: int) -> subprocess.Popen:
    """One of the compute backend's processes (such as the fork server), its output into the hub's pipe.

    Started before the hub so that its work (the fork server's imports) is done by the time the first
    student signs in; in a session of its own, like the hub, so that Ctrl-C reaches only us and we stop it
    after the hub; on a lifeline, so that it ends with `up`.
    """
    for leftover in process.remove_first:
        leftover.unlink(missing_ok=True)
    return subprocess.Popen(
        on_lifeline(process.argv),
        cwd=process.cwd,
        env=dict(process.env),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_hub_process(layout: Layout, output: int) -> subprocess.Popen:
    """JupyterHub, reading the effective configuration `up` wrote (campushub/config/snapshot.py): only its path
    travels."""
    env = dict(os.environ)
    env[SNAPSHOT_ENV] = str(layout.snapshot_file)
    return subprocess.Popen(
        on_lifeline([sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]),
        cwd=layout.run_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop the hub in order
    )


@dataclass
class Running:
    """What `up` started, for a reload to compare against."""

    config: CampusConfig
    beside: list[BesideHub]


def processes_beside_hub(config: CampusConfig, layout: Layout) -> list[BesideHub]:
    """What every backend in use runs beside the hub (the local backend's fork server, when a profile uses it)."""
    return [process for backend in backends_in_use(config) for process in backend.processes(config, layout)]


def run_hub(
    config: CampusConfig,
    layout: Layout,
    reread: Callable[[], CampusConfig] | None = None,
    prepare: Callable[[CampusConfig], None] | None = None,
) -> int:
    """Run the hub and the processes beside it under the supervisor until a stop.

    `reread` loads campus.yaml again at a reload (raising UserError when it is not valid); `prepare`
    does what must precede each start of the hub (the effective configuration, service tokens).
    """
    log_path = layout.logs_dir / "campushub.log"
    # One pipe for the hub and the processes beside it (the fork server), teed and masked; users' servers get
    # pipes of their own. `up` keeps the write end for restarts.
    read_end, write_end = os.pipe()
    banner = f"\n    {config.name} is ready at {public_url(config)}\n\n"
    with open(log_path, "a", encoding="utf-8") as log_file, os.fdopen(read_end, encoding="utf-8") as output:
        os.chmod(log_path, 0o600)

        def say(message: str) -> None:
            line = f"[campushub up] {message}\n"
            sys.stdout.write(line)
            sys.stdout.flush()
            log_file.write(line)
            log_file.flush()

        running = Running(config, processes_beside_hub(config, layout))
        children = [beside_child(process, write_end) for process in running.beside]
        children.append(Child("hub", lambda: start_hub_process(layout, write_end)))

        def reload(supervisor: Supervisor) -> None:
            if reread is not None:
                apply_reload(supervisor, running, layout, reread, prepare, write_end, say)

        supervisor = Supervisor(
            children, say, on_reload=reload, before_full_stop=lambda: stop_users_servers(running.config, say)
        )
        supervisor.install_signal_handlers()
        tee = threading.Thread(target=_tee, args=(output, log_file, banner), daemon=True)
        tee.start()
        with pid_file(layout):
            shield_from_oom(say)
            end_leftovers(layout, say)
            try:
                adopt_orphans()
            except OSError as exc:
                say(f"Cannot adopt users' servers whose parent ends ({exc}); the hub polls them by pid instead.")
            status = supervisor.run()
        os.close(write_end)
        tee.join(timeout=5)
    return status


def beside_child(process: BesideHub, output: int) -> Child:
    return Child(process.name, lambda: start_beside(process, output))


def apply_reload(
    supervisor: Supervisor,
    running: Running,
    layout: Layout,
    reread: Callable[[], CampusConfig],
    prepare: Callable[[CampusConfig], None] | None,
    output: int,
    say: Callable[[str], None],
) -> None:
    """campus.yaml again: refused as a whole when it is not valid or changes what needs a full restart."""
    from campushub.errors import UserError
    from campushub.reload import restart_needed

    say("Reloading campus.yaml.")
    try:
        config = reread()
        needed = restart_needed(running.config, config)
        if needed:
            raise UserError(needed)
        if prepare is not None:
            prepare(config)
    except UserError as exc:
        say(f"campus.yaml NOT reloaded; CampusHub keeps running as it was: {exc}")
        return
    beside = processes_beside_hub(config, layout)
    if beside != running.beside:
        for old in running.beside:
            supervisor.child(old.name).stop()
        supervisor.children[: len(running.beside)] = [beside_child(process, output) for process in beside]
        for child in supervisor.children[: len(beside)]:
            child.start()
    running.config, running.beside = config, beside
    supervisor.restart("hub")
    say("campus.yaml reloaded: the hub restarted with it; users' servers kept running.")


def stop_users_servers(config: CampusConfig, say: Callable[[str], None]) -> None:
    """Ctrl-C: every user's server stops before the hub does (SIGTERM leaves them running)."""
    from campushub.reload import stop_all_servers

    try:
        stopped = stop_all_servers(config)
    except Exception as exc:  # the hub may be down already: its servers then stay for the next `up`
        say(f"Users' servers were not stopped ({exc}); the next `campushub up` takes them back.")
        return
    if stopped:
        say(f"Stopped {stopped} user server(s).")


HUB_OOM_SCORE_ADJ = -900


def shield_from_oom(say: Callable[[str], None]) -> None:
    """When the machine runs out of memory, users' servers go before CampusHub: `up` lowers its own OOM score,
    which the hub, the proxy and the fork server inherit (users' servers raise theirs as they start). Only root
    may lower it; otherwise CampusHub's processes keep the ordinary score."""
    try:
        Path("/proc/self/oom_score_adj").write_text(str(HUB_OOM_SCORE_ADJ))
    except OSError as exc:
        if os.geteuid() == 0:
            say(
                f"CampusHub's own OOM score stays as it was: lowering it was refused ({exc.strerror}; it needs "
                "CAP_SYS_RESOURCE, which systemd's OOMScoreAdjust= gives). Users' servers raise theirs, so the OOM "
                "killer still chooses them first."
            )


def end_leftovers(layout: Layout, say: Callable[[str], None], wait: float = 30.0) -> None:
    """A hub still running from an `up` that was killed (its lifeline still winding down, or one from before
    lifelines) would hold the ports: it is asked to stop, and made to after `wait` seconds."""
    pid = running_pid(layout.run_dir / "hub.pid", "jupyterhub")
    if pid is None:
        return
    say(f"A hub from an earlier start is still running (pid {pid}): stopping it; users' servers keep running.")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def running_pid(path: Path, command_word: str) -> int | None:
    """The pid in `path` if that process is alive and its command line names `command_word`."""
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if command_word.encode() in cmdline and process_alive(pid) else None


@contextmanager
def pid_file(layout: Layout) -> Iterator[None]:
    """data_dir/run/campushub.pid while `up` runs: how `campushub reload` finds it."""
    path = up_pid_file(layout)
    path.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def up_pid_file(layout: Layout) -> Path:
    return layout.run_dir / "campushub.pid"
