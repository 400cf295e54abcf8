"""A real one-host Slurm cluster (Debian's slurmctld, slurmd and munged) for the batch-compute tests.

`running_slurm()` starts a private munged, slurmctld and slurmd on loopback and stops them afterwards.
The one node (this machine's short hostname, at 127.0.0.1) has every CPU, two partitions (`cpu`, the
default, and `gpu`) and two generic `gpu` resources, so `--gres=gpu:1` jobs run (and see CUDA_VISIBLE_DEVICES);
their "device files" are links to /dev/null in the temporary directory, as Slurm insists on device files.
Everything lives in one temporary directory: slurm.conf, gres.conf, state, spool, logs, and munge's
key, socket, pid and seed files; the machine's own /etc/slurm and /etc/munge are neither read nor used.
There is no slurmdbd: `--account=NAME` is accepted and recorded unchecked (squeue %a shows it);
`--qos=NAME` is accepted, whatever NAME, and dropped (the job's QOS is null): no QOS exists without it.

Clients find the cluster through SLURM_CONF alone (`cluster.env`): slurm.conf names munged's socket
(AuthInfo=socket=...) for the daemons and the client commands alike. The directory is world-readable
so that jobs submitted by other system users (runuser -u USER -- sbatch ...) work.

Time limits are enforced by slurmctld, which looks at running jobs every 30 s (PERIODIC_TIMEOUT, not
configurable) and then signals them KillWait (here 1 s) before SIGKILL; a `--time=1` job therefore ends
between 60 and about 95 s after it started.

    with running_slurm() as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env={**os.environ, **cluster.env})
        cluster.jobs()  # [Job(id=1, user="root", state="RUNNING", reason="None", ...)]
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench.ports import free_ports
from tests.helpers.processes import stall_report, stop_process

SLURMCTLD = Path("/usr/sbin/slurmctld")
SLURMD = Path("/usr/sbin/slurmd")
MUNGED = Path("/usr/sbin/munged")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")
# The packages providing the above: slurmctld, slurmd, slurm-client (sbatch, squeue, sinfo, scontrol,
# scancel, srun) and munge (munged).
BINARIES = (SLURMCTLD, SLURMD, MUNGED, *(Path("/usr/bin") / name for name in CLIENTS))
HOST = "127.0.0.1"
PARTITIONS = ("cpu", "gpu")
GPUS = 2
START_TIMEOUT = 30.0
# squeue's fields, one job a line, split on a separator no field contains.
_SEP = "\x1f"
_JOB_FORMAT = _SEP.join(("%i", "%u", "%T", "%r", "%P", "%j"))


@dataclass(frozen=True)
class Job:
    """One line of `squeue --all --states=all`: a job of any user, finished ones too (for MinJobAge, 300 s)."""

    id: int
    user: str
    state: str  # PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, FAILED, ...
    reason: str  # why it waits ("Resources", "ReqNodeNotAvail, ...") or "None"
    partition: str
    name: str


@dataclass(frozen=True)
class SlurmCluster:
    """A running one-node cluster: its config, what a client needs in its environment, and a few admin moves."""

    conf: Path
    node: str
    partitions: tuple[str, ...]
    default_partition: str
    gpus: int
    workdir: Path
    controller_port: int
    node_port: int
    munge_socket: Path

    @property
    def env(self) -> dict[str, str]:
        """What a client command needs on top of the usual environment (munged's socket is in slurm.conf)."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster, as root."""
        result = subprocess.run(
            list(args), env={**os.environ, **self.env}, capture_output=True, text=True, timeout=30, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def node_state(self) -> str:
        """The node's state as sinfo says it, lower case: idle, mixed, alloc, drain, drng, ..."""
        return self.run("sinfo", "--noheader", "--nodes", self.node, "--format", "%t").stdout.split()[0]

    def drain(self, reason: str = "campushub test") -> None:
        """Running jobs finish, nothing new starts on the node."""
        self.run("scontrol", "update", f"NodeName={self.node}", "State=DRAIN", f"Reason={reason}")

    def resume(self) -> None:
        self.run("scontrol", "update", f"NodeName={self.node}", "State=RESUME")

    def jobs(self) -> list[Job]:
        """Every user's jobs, finished ones included, oldest first."""
        out = self.run("squeue", "--all", "--states=all", "--noheader", "--sort=i", "--format", _JOB_FORMAT).stdout
        jobs = []
        for line in out.splitlines():
            if not line.strip():
                continue
            job_id, user, state, reason, partition, name = line.split(_SEP)
            jobs.append(Job(int(job_id), user, state, reason, partition, name))
        return jobs

    def job(self, job_id: int) -> Job | None:
        return next((job for job in self.jobs() if job.id == job_id), None)

    def cancel(self, job_id: int) -> None:
        self.run("scancel", str(job_id))

    def wait_for_job(self, job_id: int, *states: str, timeout: float = 30.0) -> Job:
        """Poll squeue until the job is in one of `states`; raises with the daemons' logs if it never gets there."""
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job is not None and job.state in states:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not {'/'.join(states)} within {timeout}s, last: {job}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            path = self.workdir / "log" / name
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"--- {name} (last 40 lines)\n" + "\n".join(text.splitlines()[-40:]))
        return "\n".join(parts)


def missing_binaries() -> list[str]:
    return [str(path) for path in BINARIES if not path.exists()]


@contextmanager
def running_slurm() -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in a fresh temporary directory; wait for an idle node; stop all on exit."""
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="campushub-slurm-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        # Clients run as other users read slurm.conf and reach munged's socket: the tree is world-readable.
        workdir.chmod(0o755)
        for name in ("etc", "state", "spool", "log", "munge"):
            (workdir / name).mkdir(mode=0o755)
        controller_port, node_port = free_ports(2)
        cluster = SlurmCluster(
            conf=workdir / "etc" / "slurm.conf",
            node=socket.gethostname().split(".")[0],
            partitions=PARTITIONS,
            default_partition=PARTITIONS[0],
            gpus=GPUS,
            workdir=workdir,
            controller_port=controller_port,
            node_port=node_port,
            munge_socket=workdir / "munge" / "munge.socket",
        )
        _write_config(cluster)
        env = {**os.environ, **cluster.env}

        cleanup.callback(_kill_leftovers, cluster)
        munged = _start_munged(cluster)
        cleanup.callback(stop_process, munged, 10)
        _wait_for_path(cluster.munge_socket, munged, workdir / "log" / "munged.log")

        slurmctld = _start([SLURMCTLD, "-D", "-i", "-f", cluster.conf], env, workdir / "log" / "slurmctld.out")
        cleanup.callback(stop_process, slurmctld, 10)
        slurmd = _start([SLURMD, "-D", "-f", cluster.conf, "-N", cluster.node], env, workdir / "log" / "slurmd.out")
        cleanup.callback(stop_process, slurmd, 10)
        # Stopped in reverse: slurmd, slurmctld, munged. Jobs still running are cancelled first so that no
        # slurmstepd outlives the cluster.
        cleanup.callback(_cancel_everything, cluster)
        _wait_until_idle(cluster, (slurmctld, slurmd))
        yield cluster


def _write_config(cluster: SlurmCluster) -> None:
    workdir = cluster.workdir
    cpus = os.cpu_count() or 1
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    root = pwd.getpwuid(os.geteuid()).pw_name
    partitions = "\n".join(
        f"PartitionName={name} Nodes={cluster.node} Default={'YES' if name == cluster.default_partition else 'NO'} "
        "MaxTime=INFINITE State=UP OverSubscribe=NO"
        for name in cluster.partitions
    )
    cluster.conf.write_text(f"""\
ClusterName=campushub
SlurmctldHost={cluster.node}({HOST})
SlurmctldPort={cluster.controller_port}
SlurmdPort={cluster.node_port}
SlurmUser={root}
SlurmdUser={root}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={cluster.munge_socket}
StateSaveLocation={workdir / "state"}
SlurmdSpoolDir={workdir / "spool"}
SlurmctldPidFile={workdir / "slurmctld.pid"}
SlurmdPidFile={workdir / "slurmd.pid"}
SlurmctldLogFile={workdir / "log" / "slurmctld.log"}
SlurmdLogFile={workdir / "log" / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig={workdir / "etc" / "plugstack.conf"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Fast enough for tests: a job past its time limit gets SIGTERM, then SIGKILL 1 s later.
OverTimeLimit=0
KillWait=1
InactiveLimit=0
MinJobAge=300
SlurmdTimeout=60
GresTypes=gpu
NodeName={cluster.node} NodeAddr={HOST} CPUs={cpus} RealMemory={max(memory_mb - 512, 256)} Gres=gpu:{cluster.gpus} \
State=UNKNOWN
{partitions}
""")
    # Slurm drops a file-less gpu (22.05: "Removing file-less GPU") and wants each File to be a device: links
    # to /dev/null are character devices to stat(), and nothing opens them (no task/cgroup to fence them in).
    devices = workdir / "dev"
    devices.mkdir(mode=0o755)
    for index in range(cluster.gpus):
        (devices / f"gpu{index}").symlink_to("/dev/null")
    (workdir / "etc" / "gres.conf").write_text(
        f"AutoDetect=off\nNodeName={cluster.node} Name=gpu File={devices}/gpu[0-{cluster.gpus - 1}]\n"
    )
    (workdir / "etc" / "plugstack.conf").write_text("")


def _start_munged(cluster: SlurmCluster) -> subprocess.Popen[bytes]:
    munge = cluster.munge_socket.parent
    key = munge / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    log = cluster.workdir / "log" / "munged.log"
    return _start(
        [
            MUNGED, "--foreground", "--force",
            f"--socket={cluster.munge_socket}", f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}", f"--log-file={log}",
        ],
        dict(os.environ),
        cluster.workdir / "log" / "munged.out",
    )  # fmt: skip


def _start(command: list, env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """A daemon in the foreground: its PID is the one we stop, nothing is left detached."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [str(part) for part in command], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait_for_path(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{_read(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {START_TIMEOUT}s\n{stall_report(process)}")
        time.sleep(0.02)


def _wait_until_idle(cluster: SlurmCluster, processes: tuple[subprocess.Popen[bytes], ...]) -> None:
    """Poll sinfo until the node is idle: slurmctld answers and slurmd has registered."""
    deadline = time.monotonic() + START_TIMEOUT
    state = None
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{cluster.logs()}")
        result = cluster.run("sinfo", "--noheader", "--nodes", cluster.node, "--format", "%t", check=False)
        state = result.stdout.strip() or result.stderr.strip()
        if result.returncode == 0 and state == "idle":
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"the node was not idle within {START_TIMEOUT}s (last sinfo: {state!r}):\n{cluster.logs()}\n"
        f"{stall_report(processes[0])}"
    )


def _cancel_everything(cluster: SlurmCluster) -> None:
    """scancel every job and wait for their slurmstepds to exit, so no job outlives the cluster."""
    listed = cluster.run("squeue", "--all", "--noheader", "--format=%i", check=False)
    job_ids = listed.stdout.split()
    if listed.returncode != 0 or not job_ids:
        return
    cluster.run("scancel", "--full", *job_ids, check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = cluster.run("squeue", "--all", "--noheader", "--states=PENDING,RUNNING,COMPLETING", check=False)
        # Each slurmstepd keeps a socket in the spool directory (NODE_JOB.STEP) until it has exited.
        steps = [path for path in (cluster.workdir / "spool").glob("*_*") if path.is_socket()]
        if result.returncode != 0 or (not result.stdout.strip() and not steps):
            return
        time.sleep(0.2)


def _kill_leftovers(cluster: SlurmCluster) -> None:
    """SIGKILL what is left of this cluster's jobs once the daemons are gone (none, unless scancel failed).

    slurmstepd and the jobs' processes are detached from slurmd, so they are found by the SLURM_CONF
    in their environment: slurmd's (slurmstepd inherits it) or the submitter's (jobs get it exported).
    """
    marker = f"SLURM_CONF={cluster.conf}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environment = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environment:
            with suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else "(no log)"
