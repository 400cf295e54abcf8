"""The Slurm test component itself (tests/components/slurm.py): what the batch-compute tests rely on.

A job from an ordinary system user runs as that user (GPU jobs too), a drained node holds jobs back
with a reason, scancel ends a job, and Slurm ends a job that runs past its --time.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.slurm import SlurmCluster
from tests.helpers.hub import TEST_USER_PREFIX

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def student() -> Iterator[str]:
    """A throwaway system account (TEST_USER_PREFIX, so the session would remove it anyway)."""
    name = TEST_USER_PREFIX + "slurm"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    yield name
    subprocess.run(["pkill", "-KILL", "-u", name], check=False)
    subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def sbatch(slurm: SlurmCluster, user: str, *args: str) -> int:
    """Submit as `user` (runuser, as a hub running as root would), in the user's home; returns the job id."""
    home = pwd.getpwnam(user).pw_dir
    result = subprocess.run(
        ["runuser", "-u", user, "--", "sbatch", "--parsable", f"--chdir={home}", *args],
        env={**os.environ, **slurm.env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().split(";")[0])


def test_a_job_runs_as_the_user_who_submitted_it(slurm: SlurmCluster, student: str) -> None:
    job_id = sbatch(slurm, student, "--output=whoami-%j.txt", "--wrap", "id -un")

    job = slurm.wait_for_job(job_id, "COMPLETED", "FAILED")

    assert (job.user, job.state, job.partition) == (student, "COMPLETED", slurm.default_partition)
    output = Path(pwd.getpwnam(student).pw_dir) / f"whoami-{job_id}.txt"
    assert output.read_text().strip() == student
    assert output.stat().st_uid == pwd.getpwnam(student).pw_uid


def test_a_gpu_job_gets_one_of_the_node_gpus(slurm: SlurmCluster, student: str) -> None:
    job_id = sbatch(
        slurm, student, "--partition=gpu", "--gres=gpu:1", "--output=gpu-%j.txt", "--wrap", "echo $CUDA_VISIBLE_DEVICES"
    )

    job = slurm.wait_for_job(job_id, "COMPLETED", "FAILED")

    assert (job.state, job.partition) == ("COMPLETED", "gpu")
    visible = (Path(pwd.getpwnam(student).pw_dir) / f"gpu-{job_id}.txt").read_text().strip()
    assert visible in {str(index) for index in range(slurm.gpus)}


def test_a_drained_node_leaves_jobs_pending_with_a_reason(slurm: SlurmCluster, student: str) -> None:
    slurm.drain("campushub test maintenance")
    try:
        assert slurm.node_state() == "drain"
        job_id = sbatch(slurm, student, "--wrap", "true")
        deadline = time.monotonic() + 15
        while (job := slurm.job(job_id)) is not None and job.reason == "None" and time.monotonic() < deadline:
            time.sleep(0.2)  # a new job's reason is "None" until the scheduler has looked at it
        assert job is not None and job.state == "PENDING", job
        assert "DRAINED" in job.reason or "ReqNodeNotAvail" in job.reason, job
    finally:
        slurm.resume()

    assert slurm.wait_for_job(job_id, "COMPLETED").user == student


def test_scancel_ends_a_running_job(slurm: SlurmCluster, student: str) -> None:
    job_id = sbatch(slurm, student, "--wrap", "sleep 300")
    slurm.wait_for_job(job_id, "RUNNING")

    slurm.cancel(job_id)

    assert slurm.wait_for_job(job_id, "CANCELLED").state == "CANCELLED"


def test_a_job_past_its_time_limit_is_ended(slurm: SlurmCluster, student: str) -> None:
    """--time=1 (a minute, the least Slurm takes); slurmctld checks limits every 30 s, so this takes 60-95 s."""
    job_id = sbatch(slurm, student, "--time=1", "--wrap", "sleep 300")
    slurm.wait_for_job(job_id, "RUNNING")
    started = time.monotonic()

    job = slurm.wait_for_job(job_id, "TIMEOUT", timeout=150)

    assert job.reason == "TimeLimit"
    assert 55 <= time.monotonic() - started <= 150
