"""Servers as jobs on the campus Slurm cluster: batchspawner's SlurmSpawner, with what a campus needs added.

batchspawner submits the job, follows it and cancels it; the server in the job tells the hub its port
(batchspawner-singleuser). This subclass adds:

- the job runs as the person's cluster account (their campus name, with `username_prefix`), submitted
  with `runuser`, every Slurm command pointed at the cluster's slurm.conf;
- the profile's account and QOS go into the job script (batchspawner's default script has neither);
- while the job waits, the start page says where it is: "waiting in the queue: position 3 of 7";
- a job that ended behind the hub's back (its time limit, scancel, a failed node) leaves a reason the
  person sees on their home page, instead of a server that silently is not there any more.
"""

from __future__ import annotations

import asyncio
import pwd
import shlex
import shutil
from collections.abc import AsyncIterator

from batchspawner import SlurmSpawner
from batchspawner.batchspawner import JobStatus
from traitlets import Unicode, default

# Slurm's end states, as the person reads them ("Your last server stopped: …").
END_REASONS = {
    "TIMEOUT": "it reached its time limit",
    "CANCELLED": "its job was cancelled on the cluster",
    "FAILED": "its job failed on the cluster",
    "NODE_FAIL": "the cluster node it ran on failed",
    "OUT_OF_MEMORY": "it ran out of memory on the cluster",
    "PREEMPTED": "the cluster preempted its job for another",
    "DEADLINE": "its job passed its deadline",
    "BOOT_FAIL": "the cluster node it was given did not boot",
    "COMPLETED": "its job ended",
}

BATCH_SCRIPT = """#!/bin/bash
#SBATCH --output={{homedir}}/.campushub-slurm-%j.log
#SBATCH --job-name=campushub-{{username}}
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if account %}#SBATCH --account={{account}}
{% endif %}{% if qos %}#SBATCH --qos={{qos}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if gres %}#SBATCH --gres={{gres}}
{% endif %}
set -euo pipefail
trap 'echo "CampusHub: the job was asked to stop"' TERM
{% if srun %}{{srun}} {% endif %}{{cmd}}
"""


def end_reason(state: str) -> str:
    """What a person reads about a job that ended in `state` (squeue's long form: TIMEOUT, CANCELLED, …)."""
    word = state.split()[0].rstrip("+") if state.split() else ""
    return END_REASONS.get(word, f"its job ended on the cluster ({word.lower() or 'no longer known'})")


def queue_position(pending_ids: list[str], job_id: str) -> tuple[int, int] | None:
    """(1-based position, how many wait) of `job_id` among its partition's pending jobs in scheduling order."""
    if job_id not in pending_ids:
        return None
    return pending_ids.index(job_id) + 1, len(pending_ids)


class CampusSlurmSpawner(SlurmSpawner):
    """One server per person as a Slurm job, running as their cluster account."""

    ip = Unicode("0.0.0.0", help="Where the server in the job listens; set from `listen_ip` at each start.").tag(
        config=True
    )
    slurm_conf = Unicode("", help="The cluster's slurm.conf for every Slurm command; empty: Slurm's default.").tag(
        config=True
    )
    username_prefix = Unicode("", help="Prefix of the cluster account of each campus user; usually empty.").tag(
        config=True
    )
    listen_ip = Unicode("0.0.0.0", help="The address servers listen on in the job (the hub must reach it).").tag(
        config=True
    )
    req_account = Unicode("", help="Slurm account the jobs are charged to.").tag(config=True)
    req_qos = Unicode("", help="Slurm quality of service of the jobs.").tag(config=True)
    stop_reason = Unicode("", help="Why the last server ended without being asked to (shown on the home page).")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # batchspawner resets `ip` to its trait's class default at each start: make that default ours.
        self.traits()["ip"].default_value = self.listen_ip

    @default("exec_prefix")
    def _submit_as_the_person(self) -> str:
        slurm_env = f" env SLURM_CONF={shlex.quote(self.slurm_conf)}" if self.slurm_conf else ""
        # An absolute path: the submit command runs with the job's environment, whose PATH lacks /usr/sbin.
        return f"{shutil.which('runuser') or '/usr/sbin/runuser'} -u {{username}} --" + slurm_env

    @default("batch_script")
    def _campus_batch_script(self) -> str:
        return BATCH_SCRIPT

    @default("req_username")
    def _cluster_account(self) -> str:
        return self.username_prefix + self.user.name

    @default("req_homedir")
    def _cluster_home(self) -> str:
        return pwd.getpwnam(self.req_username).pw_dir

    def user_env(self, env: dict) -> dict:
        """USER, HOME and SHELL of the cluster account (batchspawner would look up the campus name)."""
        account = pwd.getpwnam(self.req_username)
        env.update({"USER": account.pw_name, "HOME": account.pw_dir, "SHELL": account.pw_shell or "/bin/sh"})
        return env

    async def start(self) -> tuple[str, int]:
        self.stop_reason = ""
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        """A job that already ended (found by `poll`) has nothing left to cancel."""
        if self.job_id:
            await super().stop(now)

    def get_state(self) -> dict:
        state = super().get_state()
        if self.stop_reason:
            state["stop_reason"] = self.stop_reason
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.stop_reason = state.get("stop_reason", "")

    async def poll(self) -> int | None:
        """As batchspawner's, and when the job is gone, why: squeue still lists ended jobs for a few minutes."""
        status = await self.query_job_status()
        if status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
            return None
        job_id = self.job_id
        if job_id:
            state = await self._slurm(f"squeue -h -j {job_id} --states=all -o %T")
            self.stop_reason = end_reason(state)
            self.log.info("Slurm job %s of %s ended: %s", job_id, self._log_name, state or "no longer listed")
        self.clear_state()
        return 1

    async def _slurm(self, command: str) -> str:
        prefix = self.exec_prefix.format(username=shlex.quote(self.req_username))
        try:
            return await self.run_command(f"{prefix} {command}")
        except RuntimeError as failed:
            self.log.warning("Slurm command %r failed: %s", command, failed)
            return ""

    async def queue_message(self) -> str:
        """ "Waiting in the queue: position 3 of 7 (Resources)" for a pending job."""
        partition = self.req_partition or ""
        where = f" -p {shlex.quote(partition)}" if partition else ""
        order = await self._slurm(f"squeue -h{where} --states=PENDING --sort=-p,i -o %i")
        reason = (await self._slurm(f"squeue -h -j {self.job_id} -o %r")).strip()
        position = queue_position(order.split(), self.job_id)
        text = f"Waiting in the cluster's queue: position {position[0]} of {position[1]}" if position else "Waiting"
        if reason and reason != "None":
            text += f" (Slurm says: {reason})"
        return text

    async def progress(self) -> AsyncIterator[dict]:
        """Queue position while pending (the start page shows it), then the wait for the server to answer."""
        while True:
            if self.state_ispending():
                yield {"message": await self.queue_message()}
            elif self.state_isrunning():
                yield {"message": "The cluster started the job: waiting for the server to answer…"}
                return
            else:
                yield {"message": "Submitting the job to the cluster…"}
            await asyncio.sleep(2)
