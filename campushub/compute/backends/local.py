"""The `local` backend: users' servers as processes on this machine (campushub/compute/local.py runs them).

Everything that is "local" lives behind `LocalBackend`: the spawner and its traits, the fork server
`campushub up` runs beside the hub for fast spawn, and the probes of this machine's accounts and
user environment. The rest of CampusHub asks the chosen backend and never names this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from campushub.compute import host_probes
from campushub.compute.activity import activity_interval
from campushub.compute.backend import BesideHub, ComputeBackend, Probe, WorkspaceAccount
from campushub.compute.cgroups import detect as detect_cgroups
from campushub.compute.limits import limit_probes
from campushub.config.sections import Section
from campushub.hub.merge import Settings

if TYPE_CHECKING:
    from campushub.compute.profiles import Profile
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

SINGLEUSER_CONFIG = Path(__file__).parents[2] / "singleuser" / "config"
FORKSERVER = Path(__file__).parents[1] / "forkserver.py"
SPAWNER_CLASS = "campushub.compute.local.CampusLocalSpawner"
# What the hub's own environment may pass on to servers and the fork server: the locale and the time zone.
KEPT_VARIABLES = ("LANG", "LC_ALL", "TZ")


class LocalCompute(Section):
    """Notebook servers as processes on this machine."""

    user_prefix: str = Field(
        "nb-",
        pattern=r"^[a-z][a-z0-9_-]{0,6}[-_]$",
        description="Prefix of the system account made for each campus user when running as root (`nb-alice`): "
        "2 to 8 characters ending in `-` or `_`, so that no campus name completes it to a system account's name "
        "(`ro` + `ot`). `campushub check` refuses a prefix that begins the name of a system account (`systemd-`).",
    )
    home_base: Path = Field(Path("/home"), description="Where those system accounts' home directories are made.")
    parallel_starts: int = Field(
        0,
        ge=0,
        description="How many servers may be getting ready at once; the others wait in line and their sign-in page "
        "says how many are ahead. 0: one per CPU core.",
    )
    fast_spawn: bool = Field(
        True,
        description="Fork users' servers from a process that has imported Jupyter once (a fraction of the CPU of "
        "a fresh start; same accounts, groups, environment and isolation). `false`: start each one afresh.",
    )
    adopt_accounts: list[str] = Field(
        default_factory=list,
        description="System accounts that existed before CampusHub (not made by it) that users' servers may run as "
        "anyway, e.g. `[nb-alice]` when campus user `alice` already has that account. Any other existing account "
        "CampusHub did not create is refused, and root or system accounts (uid outside UID_MIN..UID_MAX of "
        "/etc/login.defs) always are.",
    )


def server_environment(config: CampusConfig, layout: Layout) -> dict[str, str]:
    """What every user's server gets besides its own variables (also the fork server's whole environment)."""
    env_bin = layout.environment / "bin"
    environment = {
        "PATH": f"{env_bin}:/usr/local/bin:/usr/bin:/bin",
        "JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(config.compute.idle_timeout)),
        "JUPYTER_CONFIG_PATH": str(SINGLEUSER_CONFIG),
    }
    if config.environments.enabled:  # kernels of environments built for launched repositories
        environment["JUPYTER_PATH"] = str(config.environments.directory / "share" / "jupyter")
    return environment


def spawner_settings(config: CampusConfig, layout: Layout) -> dict[str, Any]:
    """JupyterHub's own Spawner traits: which server to run, and what of the hub's environment it keeps."""
    return {
        "cmd": [str(layout.environment / "bin" / "jupyterhub-singleuser")],
        "default_url": "/lab",
        # Time in the start line counts: a start may wait for others before its own begins.
        "start_timeout": 300,
        # A server that ended behind the hub's back shows as stopped within this many seconds.
        "poll_interval": 10,
        "environment": server_environment(config, layout),
        # A venv's own VIRTUAL_ENV/PYTHONPATH from the hub's process must not leak into users' servers.
        "env_keep": list(KEPT_VARIABLES),
    }


def limit_settings(config: CampusConfig) -> dict[str, Any]:
    """JupyterHub's own limit traits (servers also see them as $MEM_LIMIT and $CPU_LIMIT), enforced by cgroups."""
    compute = config.compute
    return {"mem_limit": compute.memory_limit, "cpu_limit": compute.cpu_limit}


def local_spawner_settings(local: LocalCompute, layout: Layout) -> dict[str, Any]:
    """CampusLocalSpawner's traits: accounts, where homes and logs go, the fork server and the start line."""
    return {
        "isolate_users": layout.running_as_root,
        "user_prefix": local.user_prefix,
        "home_base": str(local.home_base),
        "personal_root": str(layout.users_dir),
        "forkserver_socket": str(layout.forkserver_socket) if local.fast_spawn else "",
        "parallel_starts": local.parallel_starts,
        "adopt_accounts": list(local.adopt_accounts),
        "user_logs_dir": str(layout.logs_dir / "users"),
    }


def forkserver_process(config: CampusConfig, layout: Layout) -> BesideHub:
    """The fork server of fast spawn, in the user environment's Python, with nothing secret in its environment.

    Started before the hub so that its imports are done by the time the first student signs in. It
    keeps the locale and time zone `campushub up` was given, as servers started afresh do.
    """
    env = server_environment(config, layout)
    env.update({key: os.environ[key] for key in KEPT_VARIABLES if key in os.environ})
    env["HOME"] = str(layout.run_dir)
    python = layout.environment / "bin" / "python"
    return BesideHub(
        name="fork server",
        argv=(str(python), str(FORKSERVER), str(layout.forkserver_socket)),
        env=env,
        cwd=layout.run_dir,
        remove_first=(layout.forkserver_socket,),
    )


class LocalBackend(ComputeBackend):
    """Servers as processes on this machine: one system account per campus user when run as root."""

    name = "local"
    config_model = LocalCompute
    summary = "processes on this machine"
    spawner_class = SPAWNER_CLASS
    profile_keys = frozenset({"environment", "cpu", "memory"})

    def workspace_account(self, config: CampusConfig, layout: Layout, name: str) -> WorkspaceAccount | None:
        """Run as root, each person's account and home, as CampusLocalSpawner makes them; in personal mode none."""
        if not layout.running_as_root:
            return None
        local = config.compute.local
        account = local.user_prefix + name
        return WorkspaceAccount(account, local.home_base / account, tuple(local.adopt_accounts))

    def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
        return {
            "JupyterHub": {"spawner_class": SPAWNER_CLASS},
            "Spawner": {**spawner_settings(config, layout), **limit_settings(config)},
            "CampusLocalSpawner": {
                **local_spawner_settings(self.section(config), layout),
                "process_limit": config.compute.process_limit or 0,
                "min_free_memory": max(config.compute.min_free_memory, config.compute.memory_limit or 0),
            },
        }

    def profile_settings(self, config: CampusConfig, layout: Layout, profile: Profile) -> dict[str, Any]:
        """Limits as the cgroups take them; another environment starts afresh (the fork server imported ours)."""
        settings: dict[str, Any] = {}
        if profile.memory is not None:
            settings["mem_limit"] = profile.memory
            settings["min_free_memory"] = max(config.compute.min_free_memory, profile.memory)
        if profile.cpu is not None:
            settings["cpu_limit"] = profile.cpu
        if profile.environment is not None and profile.environment != layout.environment:
            settings["cmd"] = [str(profile.environment / "bin" / "jupyterhub-singleuser")]
            settings["forkserver_socket"] = ""
        return settings

    def probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """The account prefix always; root running the environment's code only where root runs the fork server."""
        local = self.section(config)
        found = [Probe("account prefix", host_probes.user_prefix_problem(local.user_prefix), security=True)]
        if layout.running_as_root and local.fast_spawn:
            found.append(Probe("code run as root", host_probes.root_code_problem(layout), security=True))
        found.append(Probe("user environment", host_probes.environment_problem(layout)))
        return found

    def limit_probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        return limit_probes(config, layout, detect_cgroups(), self.name)

    def processes(self, config: CampusConfig, layout: Layout) -> list[BesideHub]:
        return [forkserver_process(config, layout)] if self.section(config).fast_spawn else []
