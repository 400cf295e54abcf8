"""The `slurm` backend: users' servers as jobs on the campus Slurm cluster (compute/slurm.py runs them).

The cluster is the campus's own: CampusHub submits to it, it never runs a scheduler of its own. Each
job runs as the person's cluster account (their campus username), so the cluster's accounting,
quotas and file permissions apply as for any of their jobs; the job's server reaches the hub over
the network and tells it its port.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from campushub.compute.activity import activity_interval
from campushub.compute.backend import ComputeBackend, Probe
from campushub.compute.limits import configured
from campushub.config.sections import Duration, Section

if TYPE_CHECKING:
    from campushub.compute.profiles import Profile
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

SPAWNER_CLASS = "campushub.compute.slurm.CampusSlurmSpawner"
SINGLEUSER_CONFIG = Path(__file__).parents[1].parent / "singleuser" / "config"
PROBE_TIMEOUT = 10


class SlurmCompute(Section):
    """Servers as jobs on the campus Slurm cluster."""

    slurm_conf: Path | None = Field(
        None,
        description="The cluster's slurm.conf, for every Slurm command CampusHub runs (as SLURM_CONF). Empty: "
        "Slurm's own default (`/etc/slurm/slurm.conf`, or a configless setup).",
    )
    username_prefix: str = Field(
        "",
        pattern=r"^[a-z0-9_-]{0,8}$",
        description="Prefix that makes a campus username the name of its cluster account (usually empty: the "
        "cluster knows the campus's accounts, from the same directory).",
    )
    partition: str | None = Field(None, description="Partition of jobs whose profile names none. Empty: the default.")
    account: str | None = Field(None, description="Slurm account of jobs whose profile names none.")
    qos: str | None = Field(None, description="Quality of service of jobs whose profile names none.")
    time_limit: Duration = Field(
        8 * 3600, ge=60, description="Time limit of jobs whose profile sets none: Slurm ends the server then."
    )
    start_timeout: Duration = Field(
        1800,
        ge=60,
        description="How long a start may wait in the queue and for the server to answer before it is given up "
        "(and the job cancelled). The start page shows the place in the queue meanwhile.",
    )
    listen_ip: str = Field(
        "0.0.0.0",
        description="The address servers listen on in their job: the hub must reach it on the node "
        "(`127.0.0.1` only where the cluster is this machine). Servers accept only their own user's hub sign-in.",
    )


def job_time(seconds: int) -> str:
    """Slurm's `--time` as D-HH:MM:SS, rounded up to whole minutes (Slurm's own granularity)."""
    minutes = math.ceil(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00"


def job_memory(size: int) -> str:
    """Slurm's `--mem` in whole MiB (its default unit is MB = MiB)."""
    return f"{math.ceil(size / (1 << 20))}M"


def job_request(
    *,
    cpu: float | None,
    memory: int | None,
    gpus: int,
    time_limit: int | None,
    partition: str | None,
    account: str | None,
    qos: str | None,
) -> dict[str, str]:
    """batchspawner's `req_*` traits for one server's job; only what is set."""
    request = {
        "req_nprocs": str(math.ceil(cpu)) if cpu else None,
        "req_memory": job_memory(memory) if memory else None,
        "req_gres": f"gpu:{gpus}" if gpus else None,
        "req_runtime": job_time(time_limit) if time_limit else None,
        "req_partition": partition,
        "req_account": account,
        "req_qos": qos,
    }
    return {key: value for key, value in request.items() if value}


def slurm_environment(config: CampusConfig, layout: Layout, environment: Path) -> dict[str, str]:
    """What the job's server gets besides JupyterHub's variables: the user environment first on PATH."""
    return {
        "PATH": f"{environment / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(config.compute.idle_timeout)),
        "JUPYTER_CONFIG_PATH": str(SINGLEUSER_CONFIG),
    }


class SlurmBackend(ComputeBackend):
    """Servers as Slurm jobs, each running as its person's cluster account."""

    name = "slurm"
    config_model = SlurmCompute
    summary = "jobs on the campus Slurm cluster"
    spawner_class = SPAWNER_CLASS
    profile_keys = frozenset({"environment", "cpu", "memory", "gpus", "time_limit", "partition", "account", "qos"})

    def hub_settings(self, config: CampusConfig, layout: Layout) -> dict[str, dict[str, Any]]:
        slurm = self.section(config)
        compute = config.compute
        return {
            "JupyterHub": {"spawner_class": SPAWNER_CLASS},
            "CampusSlurmSpawner": {
                "cmd": [str(layout.environment / "bin" / "jupyterhub-singleuser")],
                "batchspawner_singleuser_cmd": str(layout.environment / "bin" / "batchspawner-singleuser"),
                "default_url": "/lab",
                "environment": slurm_environment(config, layout, layout.environment),
                "env_keep": ["LANG", "LC_ALL", "TZ"],
                "slurm_conf": str(slurm.slurm_conf or ""),
                "username_prefix": slurm.username_prefix,
                "listen_ip": slurm.listen_ip,
                "start_timeout": slurm.start_timeout,
                "http_timeout": 120,
                "poll_interval": 30,
                **job_request(
                    cpu=compute.cpu_limit,
                    memory=compute.memory_limit,
                    gpus=0,
                    time_limit=slurm.time_limit,
                    partition=slurm.partition,
                    account=slurm.account,
                    qos=slurm.qos,
                ),
            },
        }

    def profile_settings(self, config: CampusConfig, layout: Layout, profile: Profile) -> dict[str, Any]:
        slurm = self.section(config)
        settings: dict[str, Any] = job_request(
            cpu=profile.cpu,
            memory=profile.memory,
            gpus=profile.gpus,
            time_limit=profile.time_limit,
            partition=profile.partition or slurm.partition,
            account=profile.account or slurm.account,
            qos=profile.qos or slurm.qos,
        )
        if profile.environment is not None:
            settings["cmd"] = [str(profile.environment / "bin" / "jupyterhub-singleuser")]
            settings["batchspawner_singleuser_cmd"] = str(profile.environment / "bin" / "batchspawner-singleuser")
            settings["environment"] = slurm_environment(config, layout, profile.environment)
        return settings

    def limit_probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """Memory and CPUs are the job's request, which Slurm enforces; a process limit it cannot take."""
        found = []
        for key in ("memory_limit", "cpu_limit"):
            where = configured(config, key, self.name)
            if where is not None:
                found.append(Probe(f"{where[0]} (requested from Slurm for each job: --mem / --cpus-per-task)", None))
        if config.compute.process_limit is not None:
            found.append(
                Probe(
                    "compute.process_limit",
                    "`compute.process_limit` is set, but Slurm jobs take no process limit: remove it from campus.yaml "
                    "(the cluster's own limits apply to jobs).",
                )
            )
        return found

    def probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """The cluster answers, knows the partitions and GPUs the profiles ask for, and jobs can be submitted."""
        slurm = self.section(config)
        found = [Probe("submitting jobs as each person", submit_problem(layout))]
        missing = [
            command for command in ("sbatch", "squeue", "scancel", "sinfo", "scontrol") if not shutil.which(command)
        ]
        if missing:
            found.append(
                Probe("Slurm commands", f"{', '.join(missing)} not found: install the Slurm client (slurm-client)")
            )
            return found
        env = {**os.environ, **({"SLURM_CONF": str(slurm.slurm_conf)} if slurm.slurm_conf else {})}
        ping = run_slurm(["scontrol", "ping"], env)
        if ping is None or "UP" not in ping:
            where = f" with {slurm.slurm_conf}" if slurm.slurm_conf else ""
            found.append(
                Probe("Slurm controller", f"the Slurm controller does not answer{where}: {ping or 'no reply'}")
            )
            return found
        found.append(Probe("Slurm controller", None))
        partitions = run_slurm(["sinfo", "-h", "-o", "%R %G"], env) or ""
        found += partition_probes(config, self.name, parse_sinfo(partitions))
        return found


def run_slurm(argv: list[str], env: dict[str, str]) -> str | None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as failed:
        return f"{argv[0]}: {failed}"
    return (done.stdout + done.stderr).strip()


def parse_sinfo(text: str) -> dict[str, set[str]]:
    """`sinfo -o '%R %G'` -> partition: the generic resources its nodes have (`gpu`)."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        partition, _, gres = line.partition(" ")
        kinds = {item.split(":")[0] for item in gres.split(",") if item and item != "(null)"}
        found.setdefault(partition, set()).update(kinds)
    return found


def partition_probes(config: CampusConfig, backend: str, partitions: dict[str, set[str]]) -> list[Probe]:
    """Each partition a profile (or the backend's default) names exists; a GPU profile's partition has GPUs."""
    slurm = getattr(config.compute, backend)
    wanted: list[tuple[str, str | None, int]] = [("compute.slurm.partition", slurm.partition, 0)]
    wanted += [
        (f"compute.profiles.{slug}", profile.partition or slurm.partition, profile.gpus)
        for slug, profile in config.compute.profiles.items()
        if profile.backend == backend
    ]
    found = []
    for where, partition, gpus in wanted:
        if partition is not None and partition not in partitions:
            known = ", ".join(sorted(partitions)) or "none"
            found.append(Probe(where, f"Slurm has no partition `{partition}` (it has {known})"))
        elif gpus and not any("gpu" in kinds for name, kinds in partitions.items() if partition in (None, name)):
            found.append(Probe(where, f"asks for {gpus} GPU(s), but no node of `{partition}` has a `gpu` resource"))
    if not found:
        found.append(Probe(f"Slurm partitions ({', '.join(sorted(partitions))})", None))
    return found


def submit_problem(layout: Layout) -> str | None:
    if not layout.running_as_root:
        return "jobs are submitted as each person's cluster account with runuser: run CampusHub as root"
    if shutil.which("runuser") is None:
        return "runuser is missing (util-linux)"
    return None
