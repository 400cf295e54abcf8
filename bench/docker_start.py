"""A lecture burst on containers: CampusHub's docker backend against stock dockerspawner, same engine, same image.

One private Docker engine (tests/components/docker.py) and the image `campushub images build` makes
(campushub/user). A class of students starts together; each one is timed from the start request
(POST /hub/api/users/NAME/server, as a lecture's sign-ins trigger) until `1+1` has come back from a
kernel in their server: the container, Jupyter's imports, the route, a kernel, the first result.

- stock: JupyterHub 6 with dockerspawner's SystemUserSpawner, as its docs set it up (one shared network,
  the hub listening on the bridge address);
- campushub: `compute.backend: docker` (a network per person, the relay), started cold;
- campushub-warmed: the same, with the class's course warmed before the lecture (`campushub courses warm`),
  as `courses.<id>.warm_before` does on a timetable: their containers are already running when they sign in.

    .venv/bin/python bench/docker_start.py [--students 10]

Prints median and p95 per hub and each one's p95 against stock's; writes bench/results/docker-start-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import websocket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.backend_hubs import (  # noqa: E402
    PROXY,
    VENV_BIN,
    BenchHub,
    admin_token,
    campushub_up,
    create_accounts,
    percentile,
    remove_accounts,
)
from campushub.compute.images import build_images  # noqa: E402
from tests.components.docker import DockerEngine, running_docker  # noqa: E402

READY_TIMEOUT_S = 300
PREFIX = "bd-"

STOCK_CONFIG = """\
# Stock JupyterHub with dockerspawner's SystemUserSpawner, as its docs set it up, on the same engine and image.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = {gateway!r}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.load_roles = [{{"name": "bench", "scopes": ["admin:users", "admin:servers", "access:servers"],
                            "services": ["bench"]}}]
c.JupyterHub.services = [{{"name": "bench", "api_token": {token!r}}}]
c.JupyterHub.spawner_class = "dockerspawner.SystemUserSpawner"
c.SystemUserSpawner.client_kwargs = {{"base_url": {docker_host!r}}}
c.SystemUserSpawner.image = {image!r}
c.SystemUserSpawner.pull_policy = "never"
c.SystemUserSpawner.remove = True
c.SystemUserSpawner.network_name = {network!r}
c.SystemUserSpawner.cmd = ["/opt/campushub/env/bin/jupyterhub-singleuser"]
c.SystemUserSpawner.start_timeout = 300
c.SystemUserSpawner.http_timeout = 300
c.JupyterHub.concurrent_spawn_limit = 100
"""


def account(student: str) -> str:
    return PREFIX + student


def first_result(base_url: str, name: str, token: str) -> None:
    """A kernel in `name`'s server, and `1+1` back from it."""
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{base_url}/user/{name}/api/kernels", headers=headers, json={}, timeout=120)
    kernel.raise_for_status()
    ws_url = base_url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel.json()['id']}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=120)
    try:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": name, "session": uuid.uuid4().hex, "msg_type": "execute_request",
                  "version": "5.3", "date": ""}  # fmt: skip
        content = {"code": "1+1", "silent": False, "store_history": False, "user_expressions": {},
                   "allow_stdin": False}  # fmt: skip
        ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                            "channel": "shell"}))  # fmt: skip
        while True:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "execute_result":
                assert message["content"]["data"]["text/plain"] == "2"
                return
    finally:
        ws.close()


class Hub(BenchHub):
    def __init__(self, engine: DockerEngine, image: str, students: list[str]) -> None:
        super().__init__(students, "docker")
        self.engine = engine
        self.image = image

    def before_the_lecture(self) -> None:
        """Nothing: a cold start."""

    def sign_in_to_first_result(self, student: str) -> float:
        name = self.hub_name(student)
        started = time.monotonic()
        response = self.api("POST", f"/users/{name}/server")
        assert response.status_code in (201, 202, 400), response.text  # 400: already running (warmed)
        while time.monotonic() - started < READY_TIMEOUT_S:
            server = self.api("GET", f"/users/{name}").json()["servers"].get("") or {}
            if server.get("ready"):
                first_result(self.url, name, self.token)
                return time.monotonic() - started
            time.sleep(0.1)
        raise SystemExit(f"{self.title}: {name}'s server not ready after {READY_TIMEOUT_S} s")

    def stop(self) -> None:
        for student in self.students:
            self.api("DELETE", f"/users/{self.hub_name(student)}/server")
        self.stop_process()
        self.engine.remove_all_containers()


class StockHub(Hub):
    label = "stock"
    title = "stock JupyterHub + dockerspawner"

    def hub_name(self, student: str) -> str:
        return account(student)

    def command(self) -> list[str]:
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(
            STOCK_CONFIG.format(
                port=self.port,
                hub_port=self.port + 1,
                api_port=self.port + 2,
                gateway=self.engine.gateway,
                proxy=str(PROXY),
                workdir=self.workdir,
                password=secrets.token_hex(8),
                token=self.token,
                docker_host=self.engine.docker_host,
                image=self.image,
                network=self.engine.network,
            )
        )
        return [str(VENV_BIN / "jupyterhub"), "-f", str(config)]

    def start(self) -> None:
        super().start()
        for student in self.students:
            self.api("POST", f"/users/{self.hub_name(student)}")


class CampusHubDocker(Hub):
    label = "campushub"
    title = "CampusHub (compute.backend: docker)"

    def hub_name(self, student: str) -> str:
        return student

    def command(self) -> list[str]:
        compute = {
            "backend": "docker",
            "docker": {
                "docker_host": self.engine.docker_host,
                "image": self.image,
                "hub_address": self.engine.gateway,
                "user_prefix": PREFIX,
                "adopt_accounts": [account(student) for student in self.students],
            },
        }
        courses = {"lecture": {"title": "The benchmark's lecture", "members": list(self.students)}}
        return campushub_up(self.workdir, compute, self.port, courses)

    def start(self) -> None:
        super().start()
        self.token = admin_token(self.workdir)
        for student in self.students:
            self.api("POST", f"/users/{student}")


class WarmedCampusHubDocker(CampusHubDocker):
    label = "campushub-warmed"
    title = "CampusHub (docker), course warmed before the lecture"

    def before_the_lecture(self) -> None:
        subprocess.run(
            [str(VENV_BIN / "campushub"), "courses", "warm", "lecture"], cwd=self.workdir, check=True, timeout=600
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            servers = [self.api("GET", f"/users/{s}").json()["servers"].get("") or {} for s in self.students]
            if all(server.get("ready") for server in servers):
                return
            time.sleep(1)
        raise SystemExit("the warmed servers did not all start")


def run(hub_type: type[Hub], engine: DockerEngine, image: str, students: list[str]) -> list[float]:
    hub = hub_type(engine, image, students)
    try:
        hub.start()
        hub.before_the_lecture()
        with ThreadPoolExecutor(len(students)) as pool:
            return list(pool.map(hub.sign_in_to_first_result, students))
    finally:
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10, help="students starting together (default 10)")
    args = parser.parse_args()
    students = [f"d{index:02d}" for index in range(1, args.students + 1)]
    create_accounts([account(s) for s in students])
    results: dict[str, list[float]] = {}
    try:
        with running_docker() as engine:
            *_, user = build_images(engine.docker_host, REPO, engine.cache_dir)
            for hub_type in (StockHub, CampusHubDocker, WarmedCampusHubDocker):
                results[hub_type.label] = run(hub_type, engine, user.image, students)
    finally:
        remove_accounts([account(s) for s in students])
    print(f"Docker lecture burst, {args.students} students together: start request to 1+1 (seconds)")
    print(f"{'':18}{'median':>10}{'p95':>10}{'max':>10}{'p95/stock':>11}")
    stock_p95 = percentile(results["stock"], 0.95)
    for label, times in results.items():
        p95 = percentile(times, 0.95)
        print(f"{label:18}{statistics.median(times):10.2f}{p95:10.2f}{max(times):10.2f}{p95 / stock_p95:11.2f}")
    out = REPO / "bench" / "results" / f"docker-start-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"students": args.students, "seconds": results}, indent=2))
    print(f"Written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
