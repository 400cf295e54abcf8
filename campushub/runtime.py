"""`campushub up`: JupyterHub (which runs the proxy and the idle culler) in the foreground.

JupyterHub runs as a child process so that everything it and its children
print reaches both the console and data_dir/logs/campushub.log, with
anything that looks like a secret masked, and so that Ctrl-C or SIGTERM
stop the whole platform cleanly. Users' servers are not among them: their
output is theirs to shape, so it goes to data_dir/logs/users/<name>.log
(compute/user_logs.py) and never into this log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from campushub.compute.backend import BesideHub, backend_for
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import SNAPSHOT_ENV
from campushub.hub.layout import Layout

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
    after the hub.
    """
    for leftover in process.remove_first:
        leftover.unlink(missing_ok=True)
    return subprocess.Popen(
        list(process.argv),
        cwd=process.cwd,
        env=dict(process.env),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_beside(running: list[subprocess.Popen]) -> None:
    """Stop the processes beside the hub, last started first."""
    for proc in reversed(running):
        proc.terminate()
        proc.wait(timeout=10)


def run_hub(config: CampusConfig, layout: Layout) -> int:
    """The hub reads the effective configuration `up` wrote (campushub/config/snapshot.py): only its path travels."""
    env = dict(os.environ)
    env[SNAPSHOT_ENV] = str(layout.snapshot_file)
    command = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]
    log_path = layout.logs_dir / "campushub.log"
    # One pipe for the hub and the processes beside it (the fork server), teed and masked; users' servers get
    # pipes of their own.
    read_end, write_end = os.pipe()
    with open(log_path, "a", encoding="utf-8") as log_file, os.fdopen(read_end, encoding="utf-8") as output:
        os.chmod(log_path, 0o600)
        beside = [start_beside(process, write_end) for process in backend_for(config).processes(config, layout)]
        proc = subprocess.Popen(
            command,
            cwd=layout.run_dir,
            env=env,
            stdout=write_end,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us; we stop the hub in order
        )
        os.close(write_end)

        def stop(signum: int, frame: object) -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        banner = f"\n    {config.name} is ready at {public_url(config)}\n\n"
        tee = threading.Thread(target=_tee, args=(output, log_file, banner), daemon=True)
        tee.start()
        status = proc.wait()
        stop_beside(beside)
        tee.join(timeout=5)
    return 0 if status in (0, -signal.SIGTERM) else status
