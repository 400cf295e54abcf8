"""The docker backend without an engine: what the hub is told, what a profile sets, what campus.yaml may say."""

from __future__ import annotations

from pathlib import Path

import pytest

from campushub.compute.backends.docker import DockerBackend, address_problem, images_in_use
from campushub.compute.docker import network_name
from campushub.compute.profile_settings import compute_settings
from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.hub.layout import Layout

CAMPUS = """
listen:
  port: 9000
compute:
  backend: docker
  memory_limit: 1G
  process_limit: 128
  docker:
    hub_address: 10.213.0.1
  profiles:
    standard:
      title: Standard
    gpu:
      title: GPU
      image: campushub/user:gpu
      gpus: 1
      memory: 8G
      cpu: 4
"""


def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path, Path("/opt/env"), "/x/chp", True)


def test_containers_reach_the_hub_through_the_relay_and_are_removed_at_stop(tmp_path: Path) -> None:
    config = parse_config(CAMPUS, "campus.yaml")
    settings = compute_settings(config, layout(tmp_path))["CampusDockerSpawner"]
    assert settings["hub_connect_url"] == "http://10.213.0.1:9001"  # the hub's own port, on the bridge address
    assert settings["remove"] is True and settings["pull_policy"] == "never"
    assert settings["mem_limit"] == 1 << 30 and settings["process_limit"] == 128
    assert settings["cmd"] == ["/opt/campushub/env/bin/jupyterhub-singleuser"]
    (relay,) = DockerBackend().processes(config, layout(tmp_path))
    assert relay.argv[-3:] == ("10.213.0.1", "9001", "9001")


def test_a_profile_sets_its_image_limits_and_gpus(tmp_path: Path) -> None:
    config = parse_config(CAMPUS, "campus.yaml")
    offers = compute_settings(config, layout(tmp_path))["CampusProfilesSpawner"]["profiles"]
    gpu = next(offer for offer in offers if offer["slug"] == "gpu")
    assert gpu["overrides"] == {"mem_limit": 8 << 30, "cpu_limit": 4, "gpus": 1, "image": "campushub/user:gpu"}
    assert [where for where, _ in images_in_use(config, "docker")] == [
        "compute.docker.image",
        "compute.profiles.gpu.image",
    ]


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "docker0"])
def test_the_hub_address_must_be_one_containers_can_reach(address: str) -> None:
    with pytest.raises(UserError, match=r"compute\.docker\.hub_address"):
        parse_config(f"compute:\n  docker:\n    hub_address: {address}\n", "campus.yaml")


def test_an_address_not_on_this_machine_is_named() -> None:
    assert "is not an address of this machine" in address_problem("192.0.2.77")
    assert address_problem("127.0.0.1") is None  # bindable: the check itself works


def test_each_person_has_a_network_of_their_own() -> None:
    assert network_name("alice") == "campushub-u-alice"


def test_a_container_gets_no_swap_its_process_limit_and_its_gpus() -> None:
    from campushub.compute.docker import CampusDockerSpawner

    host = CampusDockerSpawner(gpus=2, mem_limit=1 << 30, process_limit=64).extra_host_config
    assert host["memswap_limit"] == 1 << 30 and host["pids_limit"] == 64
    assert host["device_requests"] == [
        {"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]  # what `docker run --gpus 2` sends
    assert CampusDockerSpawner().extra_host_config == {}
