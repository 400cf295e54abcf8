"""Slurm spawn-to-ready: CampusHub's Slurm backend against stock JupyterHub with batchspawner, same cluster, same run.

Both hubs submit to one real one-node Slurm cluster on this machine (tests/components/slurm.py: Debian's
slurmctld, slurmd and munged on loopback). Each student's start is timed from the request to the hub
(POST /hub/api/users/NAME/server, with an admin token) until their server answers through the proxy
(GET /user/NAME/api/status is 200): queue, job start, Jupyter's imports, the port reported to the hub,
the route. The students start together, as a class would.

    .venv/bin/python bench/slurm_start.py [--students 2] [--rounds 3]

Prints median and p95 per hub and the ratio; writes bench/results/slurm-start-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

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
from tests.components.slurm import SlurmCluster, missing_binaries, running_slurm  # noqa: E402

READY_TIMEOUT_S = 300
PREFIX = "bq-"

STOCK_CONFIG = """\
# Stock JupyterHub with batchspawner's SlurmSpawner, as its README sets it up, for the same cluster.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"bench-admin"}}
c.JupyterHub.load_roles = [{{"name": "bench", "scopes": ["admin:users", "admin:servers", "access:servers"],
                            "services": ["bench"]}}]
c.JupyterHub.services = [{{"name": "bench", "api_token": {token!r}}}]
c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
c.SlurmSpawner.exec_prefix = "/usr/sbin/runuser -u {{username}} -- env SLURM_CONF={slurm_conf}"
c.SlurmSpawner.cmd = [{singleuser!r}]
c.SlurmSpawner.batchspawner_singleuser_cmd = {batch_singleuser!r}
c.SlurmSpawner.environment = {{"PATH": "{venv_bin}:/usr/bin:/bin"}}
c.SlurmSpawner.ip = "127.0.0.1"
c.SlurmSpawner.req_partition = "cpu"
c.SlurmSpawner.start_timeout = 300
c.SlurmSpawner.http_timeout = 120
c.JupyterHub.concurrent_spawn_limit = 100
"""


def account(student: str) -> str:
    return PREFIX + student


class Hub(BenchHub):
    def __init__(self, cluster: SlurmCluster, students: list[str]) -> None:
        super().__init__(students, "slurm")
        self.cluster = cluster

    def spawn_to_ready(self, student: str) -> float:
        name = self.hub_name(student)
        self.api("POST", f"/users/{name}")
        started = time.monotonic()
        response = self.api("POST", f"/users/{name}/server")
        assert response.status_code in (201, 202), response.text
        while time.monotonic() - started < READY_TIMEOUT_S:
            answer = requests.get(
                f"{self.url}/user/{name}/api/status",
                headers={"Authorization": f"token {self.token}"},
                timeout=10,
                allow_redirects=False,
            )
            if answer.status_code == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise SystemExit(f"{self.title}: {name}'s server not ready after {READY_TIMEOUT_S} s")

    def stop_servers(self) -> None:
        for student in self.students:
            self.api("DELETE", f"/users/{self.hub_name(student)}/server")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            job.state in ("RUNNING", "PENDING", "COMPLETING") for job in self.cluster.jobs()
        ):
            time.sleep(0.5)

    def stop(self) -> None:
        self.stop_process()


class StockHub(Hub):
    label = "stock"
    title = "stock JupyterHub + batchspawner"

    def hub_name(self, student: str) -> str:
        return account(student)

    def command(self) -> list[str]:
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(
            STOCK_CONFIG.format(
                port=self.port,
                hub_port=self.port + 1,
                api_port=self.port + 2,
                proxy=str(PROXY),
                workdir=self.workdir,
                password=secrets.token_hex(8),
                token=self.token,
                slurm_conf=self.cluster.conf,
                singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
                batch_singleuser=str(VENV_BIN / "batchspawner-singleuser"),
                venv_bin=VENV_BIN,
            )
        )
        return [str(VENV_BIN / "jupyterhub"), "-f", str(config)]


class CampusHubSlurm(Hub):
    label = "campushub"
    title = "CampusHub (compute.backend: slurm)"

    def hub_name(self, student: str) -> str:
        return student

    def command(self) -> list[str]:
        compute = {
            "backend": "slurm",
            "slurm": {
                "slurm_conf": str(self.cluster.conf),
                "username_prefix": PREFIX,
                "listen_ip": "127.0.0.1",
                "partition": "cpu",
                "time_limit": "1h",
            },
        }
        return campushub_up(self.workdir, compute, self.port)

    def start(self) -> None:
        super().start()
        self.token = admin_token(self.workdir)


def run(hub_type: type[Hub], cluster: SlurmCluster, students: list[str], rounds: int) -> list[float]:
    hub = hub_type(cluster, students)
    times: list[float] = []
    try:
        hub.start()
        for _ in range(rounds):
            with ThreadPoolExecutor(len(students)) as pool:
                times += list(pool.map(hub.spawn_to_ready, students))
            hub.stop_servers()
    finally:
        hub.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--students",
        type=int,
        default=2,
        help="students starting together (default 2: one per CPU of the test cluster's node)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="bursts per hub (default 3)")
    args = parser.parse_args()
    if missing_binaries():
        raise SystemExit(f"Slurm is not installed ({', '.join(missing_binaries())}): run `make test-deps` first.")
    students = [f"s{index:02d}" for index in range(1, args.students + 1)]
    create_accounts([account(s) for s in students])
    results: dict[str, list[float]] = {}
    try:
        with running_slurm() as cluster:
            for hub_type in (StockHub, CampusHubSlurm):
                results[hub_type.label] = run(hub_type, cluster, students, args.rounds)
    finally:
        remove_accounts([account(s) for s in students])
    print(f"Slurm spawn-to-ready, {args.students} students together x {args.rounds} rounds (seconds):")
    print(f"{'':12}{'median':>10}{'p95':>10}{'max':>10}")
    for label, times in results.items():
        print(f"{label:12}{statistics.median(times):10.2f}{percentile(times, 0.95):10.2f}{max(times):10.2f}")
    ratio = percentile(results["campushub"], 0.95) / percentile(results["stock"], 0.95)
    print(f"CampusHub p95 / stock p95: {ratio:.2f}")
    out = REPO / "bench" / "results" / f"slurm-start-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"students": args.students, "rounds": args.rounds, "seconds": results}, indent=2))
    print(f"Written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
