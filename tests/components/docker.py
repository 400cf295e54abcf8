"""A real Docker engine (Debian's dockerd) for the Docker compute backend's tests.

`running_docker()` starts a dockerd of its own beside whatever docker the machine may run, and stops it
afterwards. Nothing it does touches a machine's own engine:

- its own unix socket, exec root and pidfile in a fresh temporary directory (short: socket paths are limited
  to 108 bytes), no TCP listener;
- its own data root, kept in a cache directory (`CAMPUSHUB_TEST_DOCKER_CACHE`, default
  /var/cache/campushub-tests) so the images the tests build survive the run: building them takes minutes,
  reusing them seconds. A lock file lets one engine at a time use that data root;
- no default bridge (`--bridge none`, docker0 is left alone), its own containerd namespace and cgroup parent,
  and one user-defined network, `NETWORK`, whose bridge `BRIDGE` and subnet `SUBNET` are private to it.
  The host is `GATEWAY` on that network: containers reach the hub there;
- no iptables rules, no IP forwarding and no masquerading (`--iptables=false --ip-forward=false
  --ip-masq=false`): the engine changes nothing in the host's firewall or sysctls. Containers still reach the
  host's addresses (the bridge is the host's own interface) and each other on the network, and nothing beyond
  the host: what a campus wants of users' containers anyway, and what the tests check.

    with running_docker() as engine:
        engine.run("campushub/user:0.1.0", "python", "-c", "print(1+1)").stdout  # "2\\n"
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.processes import stall_report, stop_process

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = Path("/usr/bin/docker")  # Debian's CLI, the engine's version (PATH may hold another docker first)
CACHE_ENV = "CAMPUSHUB_TEST_DOCKER_CACHE"
DEFAULT_CACHE = Path("/var/cache/campushub-tests")
NETWORK = "campushub-test"
BRIDGE = "chub-test0"  # at most 15 characters (IFNAMSIZ)
SUBNET = "10.213.0.0/24"
GATEWAY = "10.213.0.1"
# Where networks made without a subnet (one per user, say) come from: private, and apart from SUBNET.
ADDRESS_POOL = "base=10.213.64.0/18,size=24"
NAMESPACE = "campushub-test"
START_TIMEOUT = 60.0
LOCK_TIMEOUT = 600.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class DockerEngine:
    """A running dockerd: how to reach it, where it keeps its data, and the network its containers share."""

    docker_host: str
    data_root: Path
    cache_dir: Path
    log: Path
    network: str = NETWORK
    bridge: str = BRIDGE
    subnet: str = SUBNET
    gateway: str = GATEWAY  # the host's address on `network`: where containers reach the hub
    env: dict[str, str] = field(default_factory=dict)  # os.environ with DOCKER_HOST set: for other docker clients

    def docker(self, *args: str, check: bool = True, timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this engine; `check` raises with docker's own output."""
        result = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
        return result

    def run(
        self, image: str, *command: str, options: Sequence[str] = (), timeout: float | None = 120
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` on `network`; returns the container's exit code and output, whatever they are."""
        return self.docker(
            "run", "--rm", "--network", self.network, *options, image, *command, check=False, timeout=timeout
        )

    def containers(self, all: bool = True) -> list[dict]:
        """`docker ps` as dicts (ID, Names, Image, State, Status, Labels...), stopped ones too unless `all=False`."""
        output = self.docker("ps", "--no-trunc", "--format", "{{json .}}", *(["--all"] if all else [])).stdout
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def remove_all_containers(self) -> None:
        ids = [container["ID"] for container in self.containers()]
        if ids:
            self.docker("rm", "--force", "--volumes", *ids)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


@contextmanager
def running_docker() -> Iterator[DockerEngine]:
    """Start a private dockerd on a unix socket, with its data root in the cache; stop it on exit.

    Containers left from an earlier run are removed at the start and this run's at the end; images, volumes
    and the network stay in the cache for the next run.
    """
    for binary, package in ((DOCKERD, "docker.io"), (DOCKER, "docker.io")):
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: apt-get install {package}")
    if os.geteuid() != 0:
        raise RuntimeError("dockerd needs root (it mounts, makes bridges and cgroups)")
    with ExitStack() as cleanup:
        cache = cache_dir()
        data_root = cache / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        cleanup.enter_context(_data_root_lock(cache / "docker.lock"))
        workdir = Path(tempfile.mkdtemp(prefix="chub-dockerd-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        socket = workdir / "docker.sock"
        docker_host = f"unix://{socket}"
        engine = DockerEngine(
            docker_host=docker_host,
            data_root=data_root,
            cache_dir=cache,
            log=workdir / "dockerd.log",
            env={**os.environ, "DOCKER_HOST": docker_host},
        )
        process = _start(engine, workdir)
        cleanup.callback(_stop, engine, process)
        _wait_until_answering(engine, process)
        engine.remove_all_containers()
        _ensure_network(engine)
        yield engine


@contextmanager
def _data_root_lock(path: Path) -> Iterator[None]:
    """One dockerd per data root: a second run (another checkout's tests) waits for the first to finish."""
    with path.open("a") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another test run held {path} for {LOCK_TIMEOUT}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start(engine: DockerEngine, workdir: Path) -> subprocess.Popen[bytes]:
    """dockerd in the foreground of its own session: its PID is the one we stop; it runs its own containerd."""
    command = [
        DOCKERD,
        "--host", engine.docker_host,
        "--data-root", str(engine.data_root),
        "--exec-root", str(workdir / "exec"),
        "--pidfile", str(workdir / "dockerd.pid"),
        "--bridge", "none",
        "--iptables=false", "--ip-forward=false", "--ip-masq=false",
        "--default-address-pool", ADDRESS_POOL,
        "--cgroup-parent", NAMESPACE,
        "--containerd-namespace", NAMESPACE,
        "--containerd-plugins-namespace", f"{NAMESPACE}-plugins",
        "--storage-driver", "overlay2",
        "--log-level", "warn",
    ]  # fmt: skip
    with engine.log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _wait_until_answering(engine: DockerEngine, process: subprocess.Popen[bytes]) -> None:
    """Poll `docker info` until the engine serves its API."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited with {process.returncode}:\n{engine.log.read_text(errors='replace')}")
        socket_made = Path(engine.docker_host.removeprefix("unix://")).exists()
        if (
            socket_made
            and engine.docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=10).returncode == 0
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"dockerd did not answer within {START_TIMEOUT}s:\n{engine.log.read_text(errors='replace')}\n"
        f"{stall_report(process)}"
    )


def _ensure_network(engine: DockerEngine) -> None:
    """The tests' network, made once and kept in the data root; remade if its subnet or bridge changed."""
    found = engine.docker("network", "inspect", engine.network, check=False)
    if found.returncode == 0:
        network = json.loads(found.stdout)[0]
        configs = network["IPAM"]["Config"] or [{}]
        bridge = network["Options"].get("com.docker.network.bridge.name")
        if (configs[0].get("Subnet"), configs[0].get("Gateway"), bridge) == (
            engine.subnet,
            engine.gateway,
            engine.bridge,
        ):
            return
        engine.docker("network", "rm", engine.network)
    engine.docker(
        "network", "create", "--driver", "bridge", "--subnet", engine.subnet, "--gateway", engine.gateway,
        "--opt", f"com.docker.network.bridge.name={engine.bridge}", engine.network,
    )  # fmt: skip


def _stop(engine: DockerEngine, process: subprocess.Popen[bytes]) -> None:
    """Remove this run's containers, then SIGTERM dockerd (it stops its containerd and unmounts its layers)."""
    if process.poll() is None:
        with suppress(RuntimeError, subprocess.TimeoutExpired):  # the engine is going anyway; its log says why
            engine.remove_all_containers()
    stop_process(process, STOP_TIMEOUT)
    # dockerd leaves the network's bridge (and the host's GATEWAY address on it) behind; it makes it anew at start.
    if Path(f"/sys/class/net/{engine.bridge}").exists() and shutil.which("ip"):
        subprocess.run(["ip", "link", "delete", engine.bridge], capture_output=True, check=False)
