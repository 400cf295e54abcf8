"""Telling a student, under the cell they ran, that their kernel was stopped for reaching the memory limit.

When a kernel goes past `compute.memory_limit`, the kernel's OOM killer ends it inside the user's
cgroup and Jupyter restarts it; JupyterLab on its own only says "the kernel appears to have died".
The server reads its memory cgroup's count of OOM kills (cgroup v1 `memory.oom_control`, v2
`memory.events`); when it has grown at a restart, the cell that was running gets a message saying
why and what to do, just before JupyterLab hears of the restart.

Loaded by jupyter_server_config.py from the same directory; it imports nothing of CampusHub's (the
users' environment may not have it).
"""

from __future__ import annotations

import os
from pathlib import Path


def memory_cgroup_dir(proc: Path = Path("/proc/self"), fs_root: Path = Path("/")) -> Path | None:
    """This process's memory cgroup directory: the v1 `memory` hierarchy's, else the v2 tree's."""
    try:
        lines = (proc / "cgroup").read_text().splitlines()
        mounts = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    own = {}
    for line in lines:
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            own[name] = path
    for wanted, fstype, option in (("memory", "cgroup", "memory"), ("", "cgroup2", None)):
        if wanted not in own:
            continue
        for mount in mounts:
            before, _, after = mount.partition(" - ")
            fields, tail = before.split(), after.split()
            if len(tail) < 3 or tail[0] != fstype or (option and option not in tail[2].split(",")):
                continue
            root, point, path = fields[3], fields[4], own[wanted]
            if root != "/" and path.startswith(root):
                path = path[len(root) :]
            return fs_root / point.lstrip("/") / path.lstrip("/")
    return None


def oom_kills(group: Path | None) -> int:
    """How many processes the OOM killer has ended in `group` so far (0 when it cannot be told)."""
    if group is None:
        return 0
    for name in ("memory.events", "memory.oom_control"):
        try:
            text = (group / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return 0


def limit_text(env: dict[str, str] | os._Environ = os.environ) -> str:
    """The memory limit as the student reads it ($MEM_LIMIT, set by the hub, is in bytes)."""
    try:
        limit = int(env.get("MEM_LIMIT", ""))
    except ValueError:
        return "your memory limit"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if limit >= size:
            return f"your memory limit of {limit / size:.3g} {unit}"
    return f"your memory limit of {limit} bytes"


def notice() -> str:
    return (
        f"CampusHub: this kernel was stopped because it reached {limit_text()}. "
        "Its variables are gone and it has been restarted. Work with less data at a time (or `del` what you "
        "no longer need), then run your cells again."
    )


class MemoryLimitNotice:
    """Mixed into the kernel websocket connection: remembers the running cell, speaks up at an OOM restart."""

    _last_execute: dict | None = None
    _kills_seen: int | None = None

    def connect(self):
        self._kills_seen = oom_kills(memory_cgroup_dir())
        return super().connect()

    def handle_incoming_message(self, incoming_msg) -> None:
        self._remember_execute(incoming_msg)
        return super().handle_incoming_message(incoming_msg)

    def _remember_execute(self, incoming_msg) -> None:
        """The header of the last execute_request: the cell a notice belongs under."""
        try:
            if self.subprotocol == "v1.kernel.websocket.jupyter.org":
                from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

                channel, parts = deserialize_msg_from_ws_v1(incoming_msg)
                header = self.session.unpack(parts[0]) if channel == "shell" and parts else None
            else:
                import json

                message = json.loads(incoming_msg) if isinstance(incoming_msg, str) else {}
                header = message.get("header") if message.get("channel", "shell") == "shell" else None
        except Exception:  # a message this cannot read is the kernel's business, not this notice's
            return
        if isinstance(header, dict) and header.get("msg_type") == "execute_request":
            self._last_execute = header

    def _tell_if_killed_for_memory(self) -> None:
        kills = oom_kills(memory_cgroup_dir())
        if self._kills_seen is not None and kills > self._kills_seen:
            self.write_stderr(notice(), self._last_execute or {})
        self._kills_seen = kills

    def on_kernel_restarted(self):
        self._tell_if_killed_for_memory()
        return super().on_kernel_restarted()

    def on_restart_failed(self):
        self._tell_if_killed_for_memory()
        return super().on_restart_failed()
