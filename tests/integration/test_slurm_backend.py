"""The Slurm backend against a real one-node Slurm cluster: a GPU profile's server runs as a job of its person.

The campus runs its class on this machine (`local`) and puts the GPU profile on the cluster; the job runs
as the student's account, a kernel answers through the hub, stopping cancels the job, a job cancelled
behind the hub's back shows as a stopped server with the reason, a drained node makes the start page
say where the job waits, and the time limit ends the server.
"""

from __future__ import annotations

import json
import pwd
import subprocess

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.restarts import wait_until
from tests.helpers.sign_in import PASSWORD

pytestmark = pytest.mark.integration


def profiles(time_limit: str = "1h") -> dict:
    return {
        "class": {"title": "Class", "memory": "1G"},
        "gpu": {
            "title": "GPU (cluster)",
            "backend": "slurm",
            "gpus": 1,
            "memory": "1G",
            "cpu": 1,
            "partition": "gpu",
            "account": "physics",
            "time_limit": time_limit,
        },
    }


def cluster_account(name: str) -> str:
    """The person's account on the cluster, made here as the cluster's directory would have it. Tests give these
    people names no local-backend test uses: the local backend refuses accounts it did not make itself."""
    account = TEST_USER_PREFIX + name
    try:
        pwd.getpwnam(account)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", account], check=True)
    return account


@pytest.fixture
def slurm_campus(campus, slurm):
    def configure(time_limit: str = "1h", poll: bool = False) -> None:
        campus.update(
            **{
                "compute.slurm": {
                    "slurm_conf": str(slurm.conf),
                    "username_prefix": TEST_USER_PREFIX,
                    "listen_ip": "127.0.0.1",
                },
                "compute.profiles": profiles(time_limit),
            }
        )
        # Not names other tests give the local backend: it refuses system accounts it did not make itself.
        for name in ("sally", "sid"):
            campus.add_user(name, PASSWORD)

    return configure


def start_gpu_server(hub, name: str) -> Student:
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    response = student.session.post(f"{hub.url}/hub/spawn", data={"profile": "gpu", "_xsrf": student._xsrf()})
    assert response.status_code == 200, response.text
    return student


def job_of(slurm, account: str, *states: str):
    jobs = [job for job in slurm.jobs() if job.user == account and (not states or job.state in states)]
    return jobs[-1] if jobs else None


def progress_messages(student: Student, until: str, timeout: float = 60) -> list[str]:
    """The start page's progress events (server-sent), until one holds `until`."""
    url = f"{student.base_url}/hub/api/users/{student.name}/server/progress"
    seen: list[str] = []
    with student.session.get(url, stream=True, timeout=timeout, headers={"X-XSRFToken": student._xsrf()}) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                seen.append(json.loads(line[5:]).get("message", ""))
                if until in seen[-1]:
                    return seen
    raise AssertionError(f"no progress message with {until!r}: {seen}")


def home_page(student: Student) -> str:
    return student.session.get(f"{student.base_url}/hub/home").content.decode()


def test_a_gpu_profile_runs_as_a_slurm_job_of_its_person(campus, hub_factory, slurm, slurm_campus):
    slurm_campus()
    account = cluster_account("sally")
    hub = hub_factory()
    sally = start_gpu_server(hub, "sally")
    sally.wait_for_server(timeout=120)

    job = job_of(slurm, account, "RUNNING")
    assert job is not None and job.partition == "gpu", slurm.jobs()
    details = slurm.run("scontrol", "show", "job", str(job.id)).stdout
    assert "Account=physics" in details and "gres:gpu:1" in details and "MinMemoryNode=1G" in details, details
    kernel = sally.kernel()
    assert kernel.execute("1+1").strip() == "2"
    assert kernel.execute("import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)").strip() == account
    assert kernel.execute("import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'))").strip() in ("0", "1")
    kernel.close()

    sally.stop_server()
    assert sally.server() is None
    slurm.wait_for_job(job.id, "CANCELLED", "COMPLETED")


def test_a_job_cancelled_behind_the_hubs_back_shows_stopped_with_the_reason(campus, hub_factory, slurm, slurm_campus):
    slurm_campus()
    account = cluster_account("sid")
    hub = hub_factory()
    sid = start_gpu_server(hub, "sid")
    sid.wait_for_server(timeout=120)
    job = job_of(slurm, account, "RUNNING")
    slurm.cancel(job.id)
    # The hub polls each server every 30 s (compute.slurm: queries cost the controller).
    wait_until(lambda: sid.server() is None, 90, "sid's cancelled job seen as a stopped server")
    assert "Your last server stopped because its job was cancelled on the cluster" in home_page(sid)


def test_a_start_on_a_drained_node_says_where_it_waits(campus, hub_factory, slurm, slurm_campus):
    slurm_campus()
    account = cluster_account("sally")
    hub = hub_factory()
    slurm.drain("maintenance")
    try:
        sally = start_gpu_server(hub, "sally")
        messages = progress_messages(sally, "position 1 of 1")
        assert any("Waiting in the cluster's queue: position 1 of 1" in message for message in messages), messages
        assert job_of(slurm, account, "PENDING") is not None
    finally:
        slurm.resume()
    sally.wait_for_server(timeout=120)
    sally.stop_server()


def test_the_time_limit_ends_the_server_and_says_so(campus, hub_factory, slurm, slurm_campus):
    slurm_campus(time_limit="1m")
    account = cluster_account("sally")
    hub = hub_factory()
    sally = start_gpu_server(hub, "sally")
    sally.wait_for_server(timeout=120)
    job = job_of(slurm, account, "RUNNING")
    slurm.wait_for_job(job.id, "TIMEOUT", timeout=150)
    wait_until(lambda: sally.server() is None, 60, "sally's server seen stopped after its time limit")
    assert "Your last server stopped because it reached its time limit" in home_page(sally)
    assert sally.session.get(f"{hub.url}/user/sally/api/status", allow_redirects=False).status_code != 200


def test_check_asks_the_cluster_and_names_a_missing_partition(campus, slurm, slurm_campus):
    slurm_campus()
    checked = campus.cli("check")
    assert "ok   Slurm controller" in checked.stdout, checked.stdout + checked.stderr
    assert "ok   Slurm partitions (cpu, gpu)" in checked.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr

    campus.update(**{"compute.profiles.gpu.partition": "a100"})
    broken = campus.cli("check")
    assert broken.returncode == 1
    assert "FAIL compute.profiles.gpu: Slurm has no partition `a100` (it has cpu, gpu)" in broken.stdout


def test_warming_a_course_submits_its_members_jobs_before_the_meeting(campus, hub_factory, slurm, slurm_campus):
    slurm_campus()
    campus.update(**{"courses": {"gpulab": {"title": "GPU lab", "members": ["sid"], "profile": "gpu"}}})
    campus.update(**{"compute.profiles.gpu.courses": ["gpulab"]})
    account = cluster_account("sid")
    hub_factory()
    warmed = campus.cli("courses", "warm", "gpulab")
    assert warmed.returncode == 0 and "1 started" in warmed.stdout, warmed.stdout + warmed.stderr
    wait_until(lambda: job_of(slurm, account, "RUNNING") is not None, 60, "sid's job submitted by the warming")
    job = job_of(slurm, account, "RUNNING")
    assert job.partition == "gpu"
