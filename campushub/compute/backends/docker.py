"""The `docker` backend: users' servers in Docker containers on this machine (compute/docker.py runs them).

Each person's container runs as their own system account with only their home mounted, on a network of
its own, with the limits of their profile; it is removed when the server stops, and the home stays.
Images come from `campushub images build` (nothing is pulled: campuses without a registry build here),
or a site's own image with Jupyter in it.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from campushub import __version__
from campushub.compute.activity import activity_interval
from campushub.compute.backend import BesideHub, ComputeBackend, Probe, WorkspaceAccount
from campushub.compute.limits import configured
from campushub.config.sections import Section
from campushub.hub.merge import Settings

if TYPE_CHECKING:
    from campushub.compute.profiles import Profile
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

SPAWNER_CLASS = "campushub.compute.docker.CampusDockerSpawner"
RELAY = Path(__file__).parents[1] / "hub_relay.py"
# Where `campushub images build` puts the user environment in the image.
IMAGE_ENVIRONMENT = "/opt/campushub/env"
PROBE_TIMEOUT = 10


def hub_port(config: CampusConfig) -> int:
    from campushub.hub.layout import internal_ports  # the layout imports the schema, which imports backends

    return internal_ports(config)[0]


def default_image() -> str:
    return f"campushub/user:{__version__}"


class DockerCompute(Section):
    """Servers in Docker containers on this machine."""

    docker_host: str = Field(
        "unix:///var/run/docker.sock", description="The Docker engine's API (`unix:///path` or `tcp://host:port`)."
    )
    image: str = Field(
        default_factory=default_image,
        description="The image servers run in, with `jupyterhub-singleuser` at "
        f"`{IMAGE_ENVIRONMENT}/bin` (what `campushub images build` makes, the default) or on its PATH. A profile's "
        "`image` replaces it. Never pulled: it must be on the engine.",
    )
    hub_address: str = Field(
        "172.17.0.1",
        description="An address of this machine that containers reach (its address on a Docker bridge: `docker0` "
        "is 172.17.0.1 by default). CampusHub relays the hub's API there for the servers in containers; the hub "
        "itself stays on 127.0.0.1.",
    )
    user_prefix: str = Field(
        "nb-",
        pattern=r"^[a-z][a-z0-9_-]{0,6}[-_]$",
        description="Prefix of the system account each campus user's container runs as (made on first start).",
    )
    home_base: Path = Field(
        Path("/home"),
        description="Where those accounts' homes are made; each is mounted "
        "into its owner's container, and nothing else of this machine.",
    )
    adopt_accounts: list[str] = Field(
        default_factory=list,
        description="System accounts that existed before CampusHub that containers may run as anyway.",
    )

    @field_validator("hub_address")
    @classmethod
    def _an_ip_address(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("expected an IP address of this machine, such as 172.17.0.1") from None
        if address.is_loopback or address.is_unspecified:
            raise ValueError("a container cannot reach this machine there: give its address on a Docker bridge")
        return value


def container_limits(memory: int | None, cpu: float | None, processes: int | None, gpus: int) -> dict[str, Any]:
    """dockerspawner's and CampusDockerSpawner's traits for one container's limits; only what is set."""
    limits: dict[str, Any] = {"mem_limit": memory, "cpu_limit": cpu, "process_limit": processes, "gpus": gpus}
    return {key: value for key, value in limits.items() if value}


class DockerBackend(ComputeBackend):
    """Containers on this machine's Docker engine, one per person, as their own account."""

    name = "docker"
    config_model = DockerCompute
    summary = "Docker containers on this machine"
    spawner_class = SPAWNER_CLASS
    profile_keys = frozenset({"image", "cpu", "memory", "gpus"})

    def workspace_account(self, config: CampusConfig, layout: Layout, name: str) -> WorkspaceAccount | None:
        """The account whose home the person's container mounts, as CampusDockerSpawner makes it."""
        docker = config.compute.docker
        account = docker.user_prefix + name
        return WorkspaceAccount(account, Path(docker.home_base) / account, tuple(docker.adopt_accounts))

    def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
        docker: DockerCompute = self.section(config)
        compute = config.compute
        return {
            "JupyterHub": {"spawner_class": SPAWNER_CLASS},
            "CampusDockerSpawner": {
                "client_kwargs": {"base_url": docker.docker_host},
                "image": docker.image,
                "pull_policy": "never",
                "remove": True,
                "cmd": [f"{IMAGE_ENVIRONMENT}/bin/jupyterhub-singleuser"],
                "default_url": "/lab",
                "hub_connect_url": f"http://{docker.hub_address}:{hub_port(config)}",
                "environment": {"JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(compute.idle_timeout))},
                "user_prefix": docker.user_prefix,
                "home_base": str(docker.home_base),
                "adopt_accounts": list(docker.adopt_accounts),
                "start_timeout": 120,
                "http_timeout": 60,
                "poll_interval": 10,
                **container_limits(compute.memory_limit, compute.cpu_limit, compute.process_limit, 0),
            },
        }

    def profile_settings(self, config: CampusConfig, layout: Layout, profile: Profile) -> dict[str, Any]:
        settings = container_limits(profile.memory, profile.cpu, None, profile.gpus)
        if profile.image is not None:
            settings["image"] = profile.image
        return settings

    def processes(self, config: CampusConfig, layout: Layout) -> list[BesideHub]:
        """The relay that lets containers reach the hub's API, which listens on 127.0.0.1 only."""
        docker: DockerCompute = self.section(config)
        port = str(hub_port(config))
        return [
            BesideHub(
                name="hub relay for containers",
                argv=(sys.executable, "-I", "-S", str(RELAY), docker.hub_address, port, port),
                env={},
                cwd=layout.run_dir,
            )
        ]

    def limit_probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """Docker enforces memory, CPU and process limits on each container itself."""
        return [
            Probe(f"{where[0]} (enforced by Docker on each container)", None)
            for key in ("memory_limit", "cpu_limit", "process_limit")
            if (where := configured(config, key, self.name)) is not None
        ]

    def probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """The engine answers, every image a profile names is on it, and containers can reach the hub's relay."""
        docker: DockerCompute = self.section(config)
        found = [Probe("running as root (containers run as each person's account)", root_problem(layout))]
        found.append(Probe(f"hub address {docker.hub_address}", address_problem(docker.hub_address)))
        try:
            import docker as docker_sdk

            client = docker_sdk.APIClient(base_url=docker.docker_host, timeout=PROBE_TIMEOUT)
            client.ping()
        except Exception as failed:
            found.append(Probe("Docker engine", f"the Docker engine at {docker.docker_host} does not answer: {failed}"))
            return found
        found.append(Probe("Docker engine", None))
        for where, image in images_in_use(config, self.name):
            try:
                client.inspect_image(image)
            except Exception:
                found.append(
                    Probe(
                        where,
                        f"the image {image} is not on the Docker engine: build it with `campushub images build` "
                        "(the default image), or load the site's own there (nothing is pulled)",
                    )
                )
            else:
                found.append(Probe(f"{where} ({image})", None))
        return found


def images_in_use(config: CampusConfig, backend: str) -> list[tuple[str, str]]:
    """(where it is set, image) for the backend's image and each of its profiles' own."""
    docker: DockerCompute = getattr(config.compute, backend)
    found = [("compute.docker.image", docker.image)]
    found += [
        (f"compute.profiles.{slug}.image", profile.image)
        for slug, profile in config.compute.profiles.items()
        if profile.backend == backend and profile.image
    ]
    return found


def root_problem(layout: Layout) -> str | None:
    if not layout.running_as_root:
        return "the docker backend runs each person's container as their own system account: run CampusHub as root"
    return None


def address_problem(address: str) -> str | None:
    """The relay must be able to listen there: an address of this machine."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return (
                f"{address} is not an address of this machine: set `compute.docker.hub_address` to this machine's "
                "address on a Docker bridge (`ip -br addr` lists them; docker0 is usually 172.17.0.1)"
            )
    return None
