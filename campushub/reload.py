"""Changing a running CampusHub: what a reload of campus.yaml may change, and stopping every server at once.

A reload restarts the hub with the new campus.yaml while users' servers keep running. Most settings
take effect with that restart; a few cannot (the data directory, the database, the compute backend
that owns the running servers), and some reach only servers started afterwards (a server keeps the
environment and limits it started with). `campushub reload` says which, before anything happens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

from campushub.config.schema import CampusConfig
from campushub.courses.hubapi import HubAPI, HubAPIError
from campushub.errors import UserError
from campushub.hub.layout import database_url, layout_for
from campushub.services.access import hub_api_url, revoke_token, service_token
from campushub.services.builtin import CLI_SERVICE

STOP_WAIT = 60.0
PAGE = 200
# Keys under `compute:` that running servers keep until they are restarted: they shape how a server starts.
SERVER_START_KEYS = ("environment", "memory_limit", "cpu_limit", "process_limit", "profiles")


def restart_needed(running: CampusConfig, new: CampusConfig) -> str | None:
    """Why `new` cannot be applied by restarting the hub alone, or None when it can."""
    if new.data_dir != running.data_dir:
        return (
            f"data_dir changed ({running.data_dir} -> {new.data_dir}): stop CampusHub and start it again "
            "(`campushub up`) to move to another data directory"
        )
    if database_url_of(new) != database_url_of(running):
        return "database.url changed: stop CampusHub and start it again (`campushub up`) to use another database"
    if new.compute.backend != running.compute.backend:
        return (
            f"compute.backend changed ({running.compute.backend} -> {new.compute.backend}): the running servers "
            "belong to the old backend. Stop CampusHub with Ctrl-C (which stops users' servers), then `campushub up`"
        )
    if running.compute.profiles and not new.compute.profiles:
        return (
            "compute.profiles were all removed: the running servers were started with profiles. Stop CampusHub with "
            "Ctrl-C (which stops users' servers), then `campushub up`; or keep at least one profile"
        )
    return None


def database_url_of(config: CampusConfig) -> str:
    return database_url(config, layout_for(config))


def changed_sections(running: CampusConfig, new: CampusConfig) -> list[str]:
    """Dotted keys (two levels deep) whose value differs: what the reload will change."""
    old_tree, new_tree = running.model_dump(mode="json"), new.model_dump(mode="json")
    changed = []
    for key in sorted(set(old_tree) | set(new_tree)):
        before, after = old_tree.get(key), new_tree.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            changed += [f"{key}.{sub}" for sub in sorted(set(before) | set(after)) if before.get(sub) != after.get(sub)]
        else:
            changed.append(key)
    return changed


def only_for_new_servers(key: str, backend: str) -> bool:
    """Whether running servers keep the old value of `key` until they are restarted."""
    parts = key.split(".")
    if key in ("environments.enabled", "environments.directory"):
        return True  # where servers look for built kernels is in their environment
    return parts[0] == "compute" and len(parts) > 1 and (parts[1] in SERVER_START_KEYS or parts[1] == backend)


def active_users(api: HubAPI) -> Iterator[dict]:
    offset = 0
    while True:
        status, body = api.request("GET", f"/users?state=active&offset={offset}&limit={PAGE}")
        if status != 200 or not isinstance(body, list):
            raise HubAPIError(f"could not list active users: HTTP {status} {body}")
        yield from body
        if len(body) < PAGE:
            return
        offset += PAGE


def stop_all_servers(config: CampusConfig, wait: float = STOP_WAIT) -> int:
    """Stop every user's servers through the running hub; returns how many were asked to stop.

    The hub must be up: it is the one that knows the servers and keeps its records right.
    """
    layout = layout_for(config)
    url = hub_api_url(config)
    token = service_token(database_url(config, layout), CLI_SERVICE, "campushub stop servers")
    if token is None:
        raise UserError("the hub has not run with the campushub-cli service yet")
    api = HubAPI(url, token).wait_until_known()
    try:
        asked = 0
        for user in list(active_users(api)):
            for server in user.get("servers") or {}:
                path = (
                    f"/users/{quote(user['name'])}/servers/{quote(server)}"
                    if server
                    else (f"/users/{quote(user['name'])}/server")
                )
                status, _ = api.request("DELETE", path)
                asked += status in (202, 204)
        deadline = time.monotonic() + wait
        while asked and any(True for _ in active_users(api)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return asked
    finally:
        revoke_token(database_url(config, layout), token)
