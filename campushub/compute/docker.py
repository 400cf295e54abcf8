"""Servers in Docker containers: dockerspawner's SystemUserSpawner, with the isolation a campus needs.

dockerspawner creates, starts, follows and removes the containers. This subclass adds:

- each person's container runs as their own system account (made on first start, as the local backend
  makes it: `user_prefix` + name, a private home), and mounts that home and nothing else of the host;
- each person's container sits on a network of its own (`campushub-u-<name>`), made at its start and
  removed at its stop: containers of different people share no network, so none reaches another's
  server port; the hub reaches each (this machine routes to every bridge), and each reaches the hub
  through the relay on `hub_address` (compute/hub_relay.py);
- memory without swap, CPU, a process limit and GPUs from the profile, as Docker enforces them;
- nothing of the start may be chosen by the person: an image or any other option in the request is
  refused (profiles are the only choice, checked by CampusProfilesSpawner).
"""

from __future__ import annotations

import pwd
from pathlib import Path
from typing import Any

from dockerspawner import SystemUserSpawner
from tornado.web import HTTPError
from traitlets import Integer, List, Unicode, default

from campushub.compute.accounts_guard import UnusableAccount
from campushub.compute.local import AccountRefused
from campushub.compute.system_users import ensure_system_user

NETWORK_PREFIX = "campushub-u-"
LABEL = "org.campushub.user"


def network_name(name: str) -> str:
    """Docker network names allow what JupyterHub's escaped usernames contain."""
    return NETWORK_PREFIX + name


class OptionsRefused(HTTPError):
    def __init__(self, keys: list[str]) -> None:
        message = f"A server start takes no options here; {', '.join(f'`{key}`' for key in keys)} cannot be asked for."
        super().__init__(403, message, reason="Options refused")
        self.jupyterhub_message = message


class CampusDockerSpawner(SystemUserSpawner):
    """One container per person, as their own account, on a network of its own."""

    user_prefix = Unicode("nb-", help="Prefix of the system account made for each campus user.").tag(config=True)
    home_base = Unicode("/home", help="Where those accounts' homes are made.").tag(config=True)
    adopt_accounts = List(Unicode(), help="Existing accounts CampusHub did not create that may be used.").tag(
        config=True
    )
    process_limit = Integer(0, help="Most processes and threads in one container; 0: none.").tag(config=True)
    gpus = Integer(0, help="GPUs given to each container (Docker's --gpus); 0: none.").tag(config=True)

    @property
    def system_username(self) -> str:
        return self.user_prefix + self.user.name

    @default("network_name")
    def _own_network(self) -> str:
        return network_name(self.user.name)

    @default("use_internal_ip")
    def _reach_it_on_its_network(self) -> bool:
        return True

    @property
    def host_homedir(self) -> str:
        return pwd.getpwnam(self.system_username).pw_dir

    def _user_id_default(self) -> int:
        return pwd.getpwnam(self.system_username).pw_uid

    def _group_id_default(self) -> int:
        return pwd.getpwnam(self.system_username).pw_gid

    @default("extra_host_config")
    def _limits_docker_enforces(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.mem_limit:
            config["memswap_limit"] = self.mem_limit  # no swap beyond the memory limit
        if self.process_limit:
            config["pids_limit"] = self.process_limit
        if self.gpus:
            from docker.types import DeviceRequest

            config["device_requests"] = [DeviceRequest(count=self.gpus, capabilities=[["gpu"]])]
        return config

    def prepare_account(self) -> None:
        account = self.system_username
        try:
            ensure_system_user(account, Path(self.home_base) / account, self.adopt_accounts)
        except UnusableAccount as refused:
            self.log.warning("Refused to start %s: %s", self._log_name, refused)
            raise AccountRefused(account) from None
        self.user_id = pwd.getpwnam(account).pw_uid
        self.group_id = pwd.getpwnam(account).pw_gid

    async def ensure_network(self) -> None:
        found = await self.docker("networks", names=[self.network_name])
        if not any(network["Name"] == self.network_name for network in found):
            await self.docker("create_network", self.network_name, driver="bridge", labels={LABEL: self.user.name})

    async def remove_network(self) -> None:
        try:
            await self.docker("remove_network", self.network_name)
        except Exception as failed:  # still in use (a container being removed): the next stop tries again
            self.log.debug("Network %s not removed: %s", self.network_name, failed)

    async def start(self) -> tuple[str, int]:
        asked = sorted(set(self.user_options or {}) - {"profile"})
        if asked:
            raise OptionsRefused(asked)
        self.prepare_account()
        await self.ensure_network()
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now)
        await self.remove_network()
