"""Python kernels forked from the server's kernel template instead of started afresh.

A kernel's cold start is mostly imports (ipykernel, IPython, jupyter_client, zmq, debugpy): about a
quarter of a CPU-second per student when a lecture starts. A server forked by CampusHub's fork server
has a *kernel template* beside it: a process of the same user, in the same cgroups, that has all of
that imported already and forks a kernel per request. The server reaches it through a socket pair
whose end it holds at the descriptor $CAMPUSHUB_KERNEL_TEMPLATE names: for each kernel it sends the
template one end of a new connection, on which the forked child reads the request.

`ForkingProvisioner` is the default kernel provisioner. For the standard ipykernel command of this
server's own Python (`{python} -m ipykernel_launcher -f {connection_file}`) it asks the template;
anything else (the R kernel, another Python, a kernelspec changing interpreter settings), or a
template that is missing or fails, gets the normal launch, and the log says why. The kernel is not
this server's child: it is watched through a pidfd and signalled by process group, as jupyter_client
does for its own kernels.

Loaded by jupyter_server_config.py from the same directory; it imports nothing of CampusHub's (the
users' environment may not have it).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
from importlib.metadata import EntryPoint
from typing import Any

from jupyter_client.provisioning import KernelProvisionerFactory
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

PROVISIONER_NAME = "campushub-forked-kernel"
TEMPLATE_ENV = "CAMPUSHUB_KERNEL_TEMPLATE"
# Out of the environment as soon as the server reads its configuration: the kernels, terminals and
# everything else the server starts see the same environment as without a template.
TEMPLATE_FD = os.environ.pop(TEMPLATE_ENV, "")
TEMPLATE_TIMEOUT = 30.0  # as for a forked server: a machine busy with a whole class starting can be slow
GO = b"go\n"
MAX_REPLY = 65536


class TemplateUnavailable(Exception):
    """The kernel template cannot start this kernel; it is started afresh instead."""


def forkable(cmd: list[str], connection_file: str, kwargs: dict[str, Any]) -> str | None:
    """Why this launch cannot go through the template (None: it can).

    Only the standard ipykernel command of exactly this server's Python: the template is that
    interpreter with that ipykernel already imported, and nothing else.
    """
    if template is None:
        return "no kernel template (the server was not forked)"
    if list(cmd) != [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]:
        return "not the standard ipykernel command of this server's Python"
    unexpected = {key for key, value in kwargs.items() if value is not None} - {"env", "cwd", "independent"}
    if unexpected or kwargs.get("independent"):
        return f"launch options the template does not take: {', '.join(sorted(unexpected)) or 'independent'}"
    return None


def template_connection() -> socket.socket | None:
    """The server's end of the socket pair to its kernel template, if it has one."""
    try:
        control = socket.socket(fileno=int(TEMPLATE_FD))
    except (ValueError, OSError):
        return None
    if control.family != socket.AF_UNIX:
        control.detach()
        return None
    control.settimeout(TEMPLATE_TIMEOUT)
    return control


template = template_connection()


def ask_template(request: dict, streams: list[int]) -> ForkedKernel:
    """Hand the template a new connection, send the request on it with the kernel's standard streams, and return
    the kernel it forked (the template's child, which reads the request and answers with its pid).

    The child goes on to be the kernel only once told to, after its pid is held here: a server that gave
    up waiting (and starts the kernel afresh) never has a second kernel on the same ports.
    """
    if template is None:
        raise TemplateUnavailable("no kernel template")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with ours:
            try:
                socket.send_fds(template, [b"k"], [theirs.fileno()])
            finally:
                theirs.close()
            ours.settimeout(TEMPLATE_TIMEOUT)
            socket.send_fds(ours, [json.dumps(request).encode() + b"\n"], streams)
            reply = b""
            while not reply.endswith(b"\n") and len(reply) < MAX_REPLY:
                chunk = ours.recv(MAX_REPLY)
                if not chunk:
                    break
                reply += chunk
            try:
                answer = json.loads(reply)
            except ValueError:
                raise TemplateUnavailable("the kernel template gave no answer") from None
            if "pid" not in answer:
                raise TemplateUnavailable(answer.get("error", "no pid in the answer"))
            process = ForkedKernel(int(answer["pid"]))
            ours.sendall(GO)
    except OSError as exc:
        raise TemplateUnavailable(f"kernel template: {exc}") from None
    return process


class ForkedKernel:
    """What jupyter_client needs of a Popen, for a kernel that is the template's child rather than ours.

    Its exit is seen through a pidfd (no pid reuse can fool it); its exit status is the template's to
    collect, so `returncode` is the signal this handle sent (negative, as Popen's), else 0.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._signalled = 0
        self._pidfd: int | None = os.pidfd_open(pid)

    def _exited(self, timeout: float | None) -> bool:
        if self._pidfd is None:
            return True
        waiting = select.poll()  # not select(): a busy server's descriptors can be numbered past FD_SETSIZE
        waiting.register(self._pidfd, select.POLLIN)
        if not waiting.poll(None if timeout is None else max(0, int(timeout * 1000))):
            return False
        os.close(self._pidfd)
        self._pidfd = None
        self.returncode = -self._signalled if self._signalled in (signal.SIGKILL, signal.SIGTERM) else 0
        return True

    def poll(self) -> int | None:
        self._exited(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self._pidfd is None:
            return
        signal.pidfd_send_signal(self._pidfd, signum)
        self._signalled = signum

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class ForkingProvisioner(LocalProvisioner):
    """LocalProvisioner, with standard Python kernels forked from the server's kernel template."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Through the template when it can start this kernel, else as LocalProvisioner does (the log says why)."""
        connection_file = getattr(self.parent, "connection_file", "")
        scrubbed = LocalProvisioner._scrub_kwargs(kwargs)
        reason = forkable(cmd, connection_file, scrubbed)
        if reason is None:
            cwd = str(scrubbed.get("cwd") or os.getcwd())
            env = dict(scrubbed.get("env") or os.environ)
            request = {"connection_file": connection_file, "env": env, "cwd": cwd}
            stdin = os.open(os.devnull, os.O_RDONLY)
            try:
                process = await asyncio.get_running_loop().run_in_executor(None, ask_template, request, [stdin, 1, 2])
            except TemplateUnavailable as exc:
                self.log.warning("Kernel template unavailable (%s): starting the kernel afresh", exc)
            else:
                self.process = process
                self.pid = process.pid
                self.pgid = process.pid  # the kernel starts its own session, and so its own process group
                self.cwd = cwd
                self.log.info("Forked kernel %s as pid %s", self.kernel_id, process.pid)
                return self.connection_info
            finally:
                os.close(stdin)
        else:
            self.log.debug("Kernel %s started afresh: %s", self.kernel_id, reason)
        return await super().launch_kernel(cmd, **kwargs)


def register() -> bool:
    """Make ForkingProvisioner a kernel provisioner jupyter_client can name, without a packaging entry point.

    jupyter_client finds provisioners through entry points, cached in the factory's class-level table; the
    table is filled in here instead, since these configuration files are not an installed package.
    """
    if template is None:
        return False
    KernelProvisionerFactory.provisioners[PROVISIONER_NAME] = EntryPoint(
        name=PROVISIONER_NAME, value=f"{__name__}:ForkingProvisioner", group=KernelProvisionerFactory.GROUP_NAME
    )
    return True
