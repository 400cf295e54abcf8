"""The Slurm backend without a cluster: job requests, what a person reads, and the checks' parsing."""

from __future__ import annotations

from pathlib import Path

from campushub.compute.backends.slurm import (
    SlurmBackend,
    job_memory,
    job_request,
    job_time,
    parse_sinfo,
    partition_probes,
)
from campushub.compute.profile_settings import compute_settings
from campushub.compute.slurm import end_reason, queue_position
from campushub.config.loader import parse_config
from campushub.hub.layout import Layout

CAMPUS = """
compute:
  slurm:
    slurm_conf: /etc/slurm/slurm.conf
    partition: interactive
    account: teaching
  profiles:
    class:
      title: Class
    gpu:
      title: GPU
      backend: slurm
      gpus: 2
      cpu: 1.5
      memory: 3G
      time_limit: 90m
      partition: gpu
      qos: high
"""


def test_job_times_and_sizes_are_written_as_slurm_reads_them() -> None:
    assert job_time(60) == "0-00:01:00" and job_time(61) == "0-00:02:00"
    assert job_time(8 * 3600) == "0-08:00:00" and job_time(26 * 3600) == "1-02:00:00"
    assert job_memory(3 << 30) == "3072M" and job_memory(1) == "1M"
    assert job_request(cpu=None, memory=None, gpus=0, time_limit=None, partition=None, account=None, qos=None) == {}


def test_a_gpu_profile_becomes_its_job_request(tmp_path: Path) -> None:
    config = parse_config(CAMPUS, "campus.yaml")
    settings = compute_settings(config, Layout(tmp_path, Path("/opt/env"), "/x/chp", True))
    gpu = next(p for p in settings["CampusProfilesSpawner"]["profiles"] if p["slug"] == "gpu")
    assert gpu["spawner_class"] == "campushub.compute.slurm.CampusSlurmSpawner"
    assert gpu["overrides"] == {
        "req_nprocs": "2",
        "req_memory": "3072M",
        "req_gres": "gpu:2",
        "req_runtime": "0-01:30:00",
        "req_partition": "gpu",
        "req_account": "teaching",  # the backend's default: the profile names none
        "req_qos": "high",
    }
    assert gpu["summary"] == "1.5 cores · 3 GiB · 2 GPUs · up to 90 min"
    slurm = settings["CampusSlurmSpawner"]
    assert slurm["slurm_conf"] == "/etc/slurm/slurm.conf" and slurm["req_partition"] == "interactive"
    assert slurm["environment"]["PATH"].startswith("/opt/env/bin:")
    # Both backends' settings sit side by side: the local one's on Spawner, the Slurm one's on its own class.
    assert settings["Spawner"]["cmd"] == ["/opt/env/bin/jupyterhub-singleuser"]


def test_what_a_person_reads_when_a_job_ended() -> None:
    assert end_reason("TIMEOUT") == "it reached its time limit"
    assert end_reason("CANCELLED by 0") == "its job was cancelled on the cluster"
    assert end_reason("") == "its job ended on the cluster (no longer known)"
    assert end_reason("SPECIAL_EXIT") == "its job ended on the cluster (special_exit)"


def test_a_pending_jobs_place_in_its_queue() -> None:
    assert queue_position(["7", "9", "12"], "9") == (2, 3)
    assert queue_position(["7"], "9") is None


def test_partition_checks_name_the_missing_partition_and_gpus() -> None:
    found = parse_sinfo("interactive (null)\ngpu gpu:2\ngpu gpu:4(S:0)\n")
    assert found == {"interactive": set(), "gpu": {"gpu"}}
    config = parse_config(CAMPUS, "campus.yaml")
    assert all(probe.problem is None for probe in partition_probes(config, "slurm", found))
    problems = {p.name: p.problem for p in partition_probes(config, "slurm", {"gpu": set()}) if p.problem}
    assert problems["compute.slurm.partition"] == "Slurm has no partition `interactive` (it has gpu)"
    assert problems["compute.profiles.gpu"] == "asks for 2 GPU(s), but no node of `gpu` has a `gpu` resource"


def test_a_process_limit_is_refused_on_slurm(tmp_path: Path) -> None:
    config = parse_config("compute:\n  backend: slurm\n  process_limit: 100\n  memory_limit: 2G\n", "campus.yaml")
    probes = SlurmBackend().limit_probes(config, Layout(tmp_path, Path("/opt/env"), "/x/chp", True))
    problems = [probe.problem for probe in probes if probe.problem]
    assert len(problems) == 1 and "Slurm jobs take no process limit" in problems[0]
