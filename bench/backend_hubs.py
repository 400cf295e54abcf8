"""What the other backends' benchmarks (docker_start.py, slurm_start.py) share: a hub in a temporary directory,
driven through its REST API with an admin token, the students' system accounts, and the percentile."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from bench.ports import free_port_block

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
START_TIMEOUT_S = 120


def create_accounts(accounts: Sequence[str]) -> None:
    """System accounts with homes, marked as CampusHub's (both hubs run the same students' servers as them)."""
    for name in accounts:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/bash", "--comment", "CampusHub user", name], check=True
            )


def remove_accounts(accounts: Sequence[str]) -> None:
    for name in accounts:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class BenchHub:
    """A hub in a temporary directory of its own, started in a session of its own and stopped at the end.

    Subclasses say how to run it (`command`) and whose server a student's is (`hub_name`).
    """

    label = ""
    title = ""
    api_timeout_s = 300

    def __init__(self, students: list[str], kind: str) -> None:
        self.students = students
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-{self.label}-"))
        os.chmod(self.workdir, 0o711)
        self.port = free_port_block(4)
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def hub_name(self, student: str) -> str:
        raise NotImplementedError

    def start(self) -> None:
        log = (self.workdir / "hub.log").open("w")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTERHUB_", "CAMPUSHUB_"))}
        self.process = subprocess.Popen(
            self.command(), cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise SystemExit(f"{self.title} did not start: see {self.workdir / 'hub.log'}")

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/hub/api{path}",
            headers={"Authorization": f"token {self.token}"},
            timeout=self.api_timeout_s,
        )

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def campushub_up(workdir: Path, compute: dict, port: int, courses: dict | None = None) -> list[str]:
    """`campushub init` in `workdir`, campus.yaml given `compute` (and `courses`) on `port`; the `up` command."""
    from ruamel.yaml import YAML

    campushub = str(VENV_BIN / "campushub")
    env = {**os.environ, "CAMPUSHUB_ADMIN_PASSWORD": secrets.token_hex(8)}
    subprocess.run([campushub, "init"], cwd=workdir, env=env, check=True, capture_output=True)
    yaml = YAML(typ="rt")
    path = workdir / "campus.yaml"
    document = yaml.load(path.read_text())
    document.setdefault("listen", {})["port"] = port
    document["compute"] = compute
    if courses:
        document["courses"] = courses
    with path.open("w") as out:
        yaml.dump(document, out)
    return [campushub, "up"]


def admin_token(workdir: Path) -> str:
    """A token of the campus's admin account, from `campushub token`."""
    made = subprocess.run(
        [str(VENV_BIN / "campushub"), "token", "--user", "admin", "--note", "bench"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]
