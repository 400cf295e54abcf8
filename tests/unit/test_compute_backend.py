"""Compute backends: the interface catches a half-written backend, the registry and schema know them by name,
and the `local` backend gives the hub exactly the settings CampusHub gave it before backends existed."""

from __future__ import annotations

from pathlib import Path

import pytest

import campushub
from campushub.compute.backend import ComputeBackend, backend_for
from campushub.compute.backends.local import FORKSERVER, LocalBackend, LocalCompute
from campushub.compute.config import backend_field
from campushub.config.loader import parse_config
from campushub.config.schema import CampusConfig
from campushub.config.sections import Section
from campushub.errors import UserError
from campushub.hub.layout import Layout
from campushub.hub.merge import Settings
from campushub.hub.settings import hub_settings
from campushub.plugins import compute_backend_types

ENVIRONMENT = Path("/opt/env")


class Nothing(Section):
    """No settings."""


def make_layout(tmp_path: Path, running_as_root: bool = True) -> Layout:
    return Layout(tmp_path / "data", ENVIRONMENT, "/x/chp", running_as_root)


# --- the interface --------------------------------------------------------------------------------------------


def test_a_backend_without_a_name_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="must set name"):

        class Nameless(ComputeBackend):
            config_model = Nothing

            def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
                return {}


def test_a_backend_without_a_config_model_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="must set config_model"):

        class Modelless(ComputeBackend):
            name = "modelless"

            def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
                return {}


def test_a_config_model_must_be_a_section() -> None:
    with pytest.raises(TypeError, match="config_model must be a Section"):

        class Loose(ComputeBackend):
            name = "loose"
            config_model = dict  # type: ignore[assignment]
            spawner_class = "loose.LooseSpawner"

            def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
                return {}


# --- the registry and the schema -------------------------------------------------------------------------------


def test_the_registry_has_local() -> None:
    assert compute_backend_types()["local"] is LocalBackend
    assert isinstance(backend_for(CampusConfig.model_validate({})), LocalBackend)


def test_each_backend_has_its_section_under_compute() -> None:
    config = CampusConfig.model_validate({"compute": {"local": {"parallel_starts": 3}}})
    assert isinstance(config.compute.local, LocalCompute)
    assert LocalBackend().section(config).parallel_starts == 3


def test_a_section_with_required_keys_is_there_only_when_written() -> None:
    class Cluster(Section):
        """A batch system."""

        queue: str

    class ClusterBackend(ComputeBackend):
        name = "cluster"
        config_model = Cluster
        spawner_class = "cluster.ClusterSpawner"

        def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
            return {}

    annotation, field = backend_field(ClusterBackend)
    assert annotation == Cluster | None and field.default is None
    annotation, field = backend_field(LocalBackend)
    assert annotation is LocalCompute and field.default_factory is LocalCompute


def test_an_unknown_backend_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(UserError) as caught:
        parse_config("compute:\n  backend: nosuch\n", "campus.yaml")
    message = str(caught.value)
    assert "compute.backend" in message and "'nosuch'" in message
    assert f"the registered ones are {', '.join(compute_backend_types())}" in message


# --- the local backend -------------------------------------------------------------------------------------------


def expected_local_settings(tmp_path: Path, running_as_root: bool, fast_spawn: bool) -> Settings:
    """What CampusHub's hub settings hold for `local`: written out, not computed (limits off, polled every 10 s)."""
    data = tmp_path / "data"
    return {
        "JupyterHub": {"spawner_class": "campushub.compute.local.CampusLocalSpawner"},
        "Spawner": {
            "cmd": [str(ENVIRONMENT / "bin" / "jupyterhub-singleuser")],
            "default_url": "/lab",
            "start_timeout": 300,
            "poll_interval": 10,
            "environment": {
                "PATH": f"{ENVIRONMENT / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                "JUPYTERHUB_ACTIVITY_INTERVAL": "300",
                "JUPYTER_CONFIG_PATH": str(Path(campushub.__file__).parent / "singleuser" / "config"),
                "JUPYTER_PATH": "/var/lib/campushub/environments/share/jupyter",
            },
            "env_keep": ["LANG", "LC_ALL", "TZ"],
            "mem_limit": None,
            "cpu_limit": None,
        },
        "CampusLocalSpawner": {
            "isolate_users": running_as_root,
            "user_prefix": "stu-",
            "home_base": "/srv/home",
            "personal_root": str(data / "users"),
            "forkserver_socket": str(data / "run" / "forkserver.sock") if fast_spawn else "",
            "parallel_starts": 2,
            "adopt_accounts": ["stu-alice"],
            "user_logs_dir": str(data / "logs" / "users"),
            "process_limit": 0,
            "min_free_memory": 512 << 20,
        },
    }


@pytest.mark.parametrize(("running_as_root", "fast_spawn"), [(True, True), (False, True), (True, False)])
def test_local_settings_are_what_the_hub_had_before(tmp_path: Path, running_as_root: bool, fast_spawn: bool) -> None:
    local = {
        "user_prefix": "stu-",
        "home_base": "/srv/home",
        "parallel_starts": 2,
        "fast_spawn": fast_spawn,
        "adopt_accounts": ["stu-alice"],
    }
    config = CampusConfig.model_validate({"compute": {"idle_timeout": "2h", "local": local}})
    layout = make_layout(tmp_path, running_as_root)
    expected = expected_local_settings(tmp_path, running_as_root, fast_spawn)
    assert LocalBackend().hub_settings(config, layout) == expected

    merged = hub_settings(config, layout)
    assert merged["JupyterHub"]["spawner_class"] == expected["JupyterHub"]["spawner_class"]
    assert merged["JupyterHub"]["last_activity_interval"] == 300  # the hub's own, beside the backend's
    assert merged["Spawner"] == expected["Spawner"]
    assert merged["CampusLocalSpawner"] == expected["CampusLocalSpawner"]


def test_the_fork_server_runs_beside_the_hub_only_with_fast_spawn(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    (forkserver,) = LocalBackend().processes(CampusConfig.model_validate({}), layout)
    socket = layout.forkserver_socket
    assert forkserver.argv == (str(ENVIRONMENT / "bin" / "python"), str(FORKSERVER), str(socket))
    assert forkserver.cwd == layout.run_dir and forkserver.remove_first == (socket,)
    assert forkserver.env["HOME"] == str(layout.run_dir)
    assert forkserver.env["PATH"].startswith(f"{ENVIRONMENT / 'bin'}:")
    slow = CampusConfig.model_validate({"compute": {"local": {"fast_spawn": False}}})
    assert LocalBackend().processes(slow, layout) == []
