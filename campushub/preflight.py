"""Probes run before `up` and by `check`: each returns a problem sentence or None.

They catch the mistakes that otherwise surface as a stack trace minutes
later: a port in use, a data dir that cannot be written, a missing proxy.
Those are the same whatever runs the servers; the chosen compute backend
adds its own (for `local`: an environment the users' accounts cannot
execute, an account prefix that reaches system accounts, code root would
run from a place others can write). Security probes are marked: `check`
exits 2 for them, and `up` reports them first.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from campushub.compute.backend import Probe
from campushub.compute.profile_settings import backends_in_use
from campushub.config.schema import CampusConfig
from campushub.hub.layout import Layout, internal_ports, library_port


def port_problem(ip: str, port: int, role: str) -> str | None:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            return (
                f"port {port} on {ip} ({role}) is not free: {exc.strerror}. Stop whatever uses it "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another `listen.port` / --port."
            )
    return None


def data_dir_problem(data_dir: Path) -> str | None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        return (
            f"the data directory {data_dir} is not writable ({exc.strerror}). Set `data_dir` in "
            "campus.yaml to a directory CampusHub may write to, or fix its permissions."
        )
    return None


def proxy_problem(layout: Layout) -> str | None:
    command = layout.proxy_command
    if os.sep in command and os.access(command, os.X_OK):
        return None
    return (
        "configurable-http-proxy is not installed. Run `make up` (or `npm ci` in the CampusHub "
        "checkout), or point $CAMPUSHUB_PROXY at the proxy executable."
    )


def probes(config: CampusConfig, layout: Layout) -> list[Probe]:
    """The backend-neutral probes, then those of every backend in use; security probes first (`up` reports them)."""
    hub_port, api_port = internal_ports(config)
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("public port", lambda: port_problem(config.listen.ip, config.listen.port, "public address")),
        ("hub port", lambda: port_problem("127.0.0.1", hub_port, "internal hub API")),
        ("proxy API port", lambda: port_problem("127.0.0.1", api_port, "internal proxy API")),
        *(
            [("library port", lambda: port_problem("127.0.0.1", library_port(config), "the library service"))]
            if config.library.enabled
            else []
        ),
        ("data directory", lambda: data_dir_problem(layout.data_dir)),
        ("proxy", lambda: proxy_problem(layout)),
    ]
    if config.listen.tls_cert:
        checks.append(("TLS files", lambda: tls_problem(config)))
    if config.environments.enabled and config.compute.backend == "local":
        checks.append(("environments directory", lambda: environments_dir_problem(config.environments.directory)))
    found = [Probe(name, check()) for name, check in checks]
    for backend in backends_in_use(config):  # `compute.backend`, and each one a profile runs on
        found += backend.probes(config, layout) + backend.limit_probes(config, layout)
    return sorted(found, key=lambda probe: not probe.security)  # stable: each group keeps its order


def tls_problem(config: CampusConfig) -> str | None:
    for key in ("tls_cert", "tls_key"):
        path = getattr(config.listen, key)
        if path is not None and not os.access(path, os.R_OK):
            return f"`listen.{key}`: {path} cannot be read. Check the path and its permissions."
    return None


def environments_dir_problem(directory: Path) -> str | None:
    """Users' servers start built kernels from `directory`: every folder above it must let other accounts through.

    Only what exists is checked (the builder makes the rest, readable); a folder closed to others there would
    otherwise show only at a launch, as a kernel that cannot start.
    """
    closed = [
        folder
        for folder in [*reversed(directory.parents), directory]
        if folder.exists() and not folder.stat().st_mode & 0o001
    ]
    if not closed:
        return None
    return (
        f"`environments.directory` {directory}: users' accounts cannot reach it, since {closed[0]} is closed to "
        f"them (mode {closed[0].stat().st_mode & 0o777:o}). Choose a directory outside private folders such as "
        f"data_dir (the default is /var/lib/campushub/environments), or `chmod o+x {closed[0]}`."
    )
