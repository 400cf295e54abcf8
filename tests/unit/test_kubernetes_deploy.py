"""`campushub deploy kubernetes`: its values, seen by kubespawner, the chart's schema and the profiles spawner.

No cluster: pods are built by kubespawner's own builders (KubeSpawner.get_pod_manifest, objects.make_pod) and
checked as kubernetes_asyncio models; the values' keys against the chart's schema (tests/fixtures).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML
from traitlets.config import Config

from campushub.compute.backends import kubernetes as k8s_backend
from campushub.compute.backends.kubernetes import KubernetesBackend
from campushub.compute.profile_settings import PROFILES_SPAWNER
from campushub.config.schema import CampusConfig
from campushub.deploy import kubernetes
from campushub.deploy.kubernetes import finish_hub_config, render_values, values
from campushub.errors import UserError
from tests.helpers.eventloop import run_alone

KEYS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "z2jh_values_keys.txt"
HUB_IMAGE = "registry.example.edu/campushub/hub:0.1.0"
GiB = 1 << 30

CAMPUS = """
name: Example University
admins: [prof]
sign_in:
  local: {signup: closed}
compute:
  backend: kubernetes
  idle_timeout: 2h
  cpu_limit: 1
  memory_limit: 2G
  kubernetes:
    image: registry.example.edu/campushub/user:2026.1
  profiles:
    standard:
      title: Standard
      description: For coursework.
    big:
      title: Big memory
      cpu: 4
      memory: 16G
      groups: [research]
    gpu:
      title: GPU
      image: registry.example.edu/campushub/user-gpu:2026.1
      cpu: 8
      memory: 32G
      gpus: 2
      courses: [ml301]
courses:
  ml301:
    title: Machine learning
    members: [alice]
    profile: gpu
    meetings:
      - {days: [mon], start: "09:00", end: "10:30"}
"""


@pytest.fixture(scope="module")
def campus_model() -> type[CampusConfig]:
    return CampusConfig


def load(model: type[CampusConfig], text: str, **changes: Any) -> CampusConfig:
    data = YAML(typ="safe").load(text)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = data
        for key in parents:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return model.model_validate(data)


@pytest.fixture(scope="module")
def campus(campus_model: type[CampusConfig]) -> CampusConfig:
    return load(campus_model, CAMPUS)


@pytest.fixture(scope="module")
def generated(campus: CampusConfig) -> dict[str, Any]:
    """The values as the chart reads them: the rendered YAML, parsed back."""
    return YAML(typ="safe").load(render_values(campus, HUB_IMAGE))


# --- the chart's schema -----------------------------------------------------------------------------------------


def chart_keys() -> tuple[set[str], set[str]]:
    """(known paths, free-form paths) from the fixture."""
    known, free = set(), set()
    for line in KEYS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, _, kind = line.partition(" ")
        known.add(path)
        if kind.strip() == "any":
            free.add(path)
    return known, free


def unknown_keys(node: dict[str, Any], known: set[str], free: set[str], prefix: str = "") -> list[str]:
    found = []
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        wild = f"{prefix}.*" if prefix else "*"
        matched = path if path in known else wild if wild in known else None
        if matched is None:
            found.append(path)
        elif matched not in free and isinstance(value, dict):
            found += unknown_keys(value, known, free, matched)
    return found


def test_every_key_written_is_one_the_chart_documents(generated: dict[str, Any]) -> None:
    known, free = chart_keys()
    assert {"hub.config", "hub.extraConfig", "singleuser.profileList"} <= free | known
    assert unknown_keys(generated, known, free) == []


def test_the_schema_walk_catches_a_misspelt_key() -> None:
    known, free = chart_keys()
    assert unknown_keys(
        {"singleuser": {"memory": {"limits": 1}}, "hub": {"config": {"Anything": {}}}}, known, free
    ) == ["singleuser.memory.limits"]


# --- what the hub runs ------------------------------------------------------------------------------------------


def test_the_hub_runs_campushub_with_the_chart_owning_ports_database_and_services(generated: dict[str, Any]) -> None:
    hub = generated["hub"]
    assert hub["image"] == {"name": "registry.example.edu/campushub/hub", "tag": "0.1.0"}
    assert hub["db"] == {"type": "sqlite-pvc"}
    config = hub["config"]
    assert config["JupyterHub"]["authenticator_class"] == "campushub.identity.combined.CampusAuthenticator"
    assert config["JupyterHub"]["spawner_class"] == PROFILES_SPAWNER
    assert config["JupyterHub"]["template_vars"]["campus_name"] == "Example University"
    assert config["JupyterHub"]["last_activity_interval"] == 300
    assert not set(config["JupyterHub"]) & kubernetes.CHART_OWNED["JupyterHub"]
    assert "ConfigurableHTTPProxy" not in config
    assert "db_url" not in config["CampusAuthenticator"] and "db_url" not in config["LocalAccountsAuthenticator"]
    assert config["CampusAuthenticator"]["campus_admins"] == [{"name": "prof", "method": None}]
    assert "KubeSpawner" not in config  # the default pod is `singleuser`'s
    assert "finish_hub_config(c)" in hub["extraConfig"]["campushub.py"]


def test_the_culler_is_the_charts_with_campushub_timing_and_the_warmer_a_hub_service(
    generated: dict[str, Any],
) -> None:
    assert generated["cull"] == {"enabled": True, "timeout": 7200, "every": 300, "adminUsers": True}
    hub = generated["hub"]
    assert set(hub["services"]) == {"campushub-courses"}
    warmer = hub["services"]["campushub-courses"]
    assert warmer["command"] == ["python3", "-m", "campushub.courses.warmer"]
    assert warmer["environment"]["CAMPUSHUB_SNAPSHOT"] == kubernetes.SNAPSHOT_PATH
    assert hub["loadRoles"]["campushub-courses"]["services"] == ["campushub-courses"]
    assert "start:servers!user=alice" in hub["loadRoles"]["campushub-courses"]["scopes"]
    snapshot = hub["extraFiles"]["campushub-effective-config"]
    assert snapshot["mountPath"] == kubernetes.SNAPSHOT_PATH
    assert json.loads(snapshot["stringData"])["courses"]["ml301"]["profile"] == "gpu"


def test_without_courses_there_is_no_service_and_no_snapshot(campus_model: type[CampusConfig]) -> None:
    campus = load(campus_model, CAMPUS, courses=None, compute__profiles__gpu__courses=None)
    hub = values(campus, HUB_IMAGE)["hub"]
    assert "services" not in hub and "loadRoles" not in hub and "extraFiles" not in hub


def test_an_external_database_is_the_charts_and_campushubs(campus_model: type[CampusConfig]) -> None:
    url = "postgresql://campushub:pw@db.example.edu/campushub"
    campus = load(campus_model, CAMPUS, database={"url": url})
    assert values(campus, HUB_IMAGE)["hub"]["db"] == {"type": "postgres", "url": url}


def test_the_default_pod_has_the_image_and_campus_limits(generated: dict[str, Any]) -> None:
    singleuser = generated["singleuser"]
    assert singleuser["image"] == {"name": "registry.example.edu/campushub/user", "tag": "2026.1"}
    assert singleuser["cpu"] == {"limit": 1, "guarantee": 1}
    assert singleuser["memory"] == {"limit": 2 * GiB, "guarantee": 2 * GiB}
    assert singleuser["defaultUrl"] == "/lab"
    assert singleuser["extraEnv"] == {"JUPYTERHUB_ACTIVITY_INTERVAL": "300"}
    assert "profileList" not in singleuser  # profiles are CampusHub's: see the profiles spawner tests below


def test_profile_images_are_pre_pulled(generated: dict[str, Any]) -> None:
    assert generated["prePuller"]["extraImages"] == {
        "campushub-profile-gpu": {"name": "registry.example.edu/campushub/user-gpu", "tag": "2026.1"}
    }


def test_finish_hub_config_points_campushub_at_the_charts_database_and_its_templates(generated: dict[str, Any]) -> None:
    c = Config()
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"  # what the chart sets for sqlite-pvc
    for section, traits in generated["hub"]["config"].items():
        c[section].update(traits)
    finish_hub_config(c)
    assert c.CampusAuthenticator.db_url == c.LocalAccountsAuthenticator.db_url == "sqlite:///jupyterhub.sqlite"
    assert Path(c.JupyterHub.template_paths[0], "home.html").exists()


# --- pods, through kubespawner's own builders ----------------------------------------------------------------------

# The chart's jupyterhub_config.py maps these `singleuser` values to KubeSpawner traits; the test does the same.
CHART_TRAITS = {
    ("cpu", "limit"): "cpu_limit",
    ("cpu", "guarantee"): "cpu_guarantee",
    ("memory", "limit"): "mem_limit",
    ("memory", "guarantee"): "mem_guarantee",
    ("defaultUrl",): "default_url",
    ("extraEnv",): "environment",
}


def chart_hub_config(generated: dict[str, Any]) -> Config:
    """The traitlets config the chart's hub would end with, as far as KubeSpawner and the profiles spawner go."""
    c = Config()
    singleuser = generated["singleuser"]
    c.KubeSpawner.image = f"{singleuser['image']['name']}:{singleuser['image']['tag']}"
    for path, trait in CHART_TRAITS.items():
        value: Any = singleuser
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            c.KubeSpawner[trait] = value
    for section, traits in generated["hub"]["config"].items():
        c[section].update(traits)
    return c


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KubeSpawner loads a client configuration when it is made; nothing is ever sent to this address."""
    (tmp_path / "kubeconfig").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    from kubernetes_asyncio.config import kube_config

    # Read at import from $KUBECONFIG, so set where the loader looks.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "kubeconfig"))


async def pod_dict(pod: Any) -> dict[str, Any]:
    """Serialized as the API client sends it, then read back as a V1Pod: a valid object, not just a dict."""
    from kubernetes_asyncio.client import ApiClient, V1Pod

    def read(data: dict[str, Any]) -> V1Pod:
        return client.deserialize(SimpleNamespace(data=json.dumps(data)), "V1Pod")

    async with ApiClient() as client:
        sent = client.sanitize_for_serialization(pod)
        # kubespawner sends quantities as JSON numbers where it was given numbers; the model reads them as the
        # strings the API server answers with. Past that, a second round trip changes nothing.
        typed = client.sanitize_for_serialization(read(sent))
        assert isinstance(read(typed), V1Pod)
        assert client.sanitize_for_serialization(read(typed)) == typed
        for sent_container, typed_container in zip(
            sent["spec"]["containers"], typed["spec"]["containers"], strict=True
        ):
            for kind, quantities in sent_container.get("resources", {}).items():
                sent_container["resources"][kind] = {name: str(value) for name, value in quantities.items()}
            assert sent_container == typed_container
    return typed


def notebook_container(data: dict[str, Any]) -> dict[str, Any]:
    (container,) = (c for c in data["spec"]["containers"] if c["name"] == "notebook")
    return container


def quantities(resources: dict[str, str]) -> dict[str, float]:
    """Plain-number quantities as numbers (KubeSpawner writes a Float CPU trait as `8.0`, which is 8 cores)."""
    return {name: float(value) for name, value in resources.items()}


def fake_user(name: str, groups: tuple[str, ...] = (), admin: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        id=7,
        admin=admin,
        url=f"/user/{name}/",
        groups=[SimpleNamespace(name=group) for group in groups],
        escaped_name=name,
    )


def fake_hub() -> SimpleNamespace:
    return SimpleNamespace(
        public_host="", url="http://hub:8081/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
    )


def profiles_spawner(generated: dict[str, Any], user: SimpleNamespace) -> Any:
    from campushub.compute.profile_spawner import CampusProfilesSpawner

    return CampusProfilesSpawner(user=user, hub=fake_hub(), config=chart_hub_config(generated))


async def child_pod(spawner: Any, user_options: dict[str, Any]) -> dict[str, Any]:
    """What a start with `user_options` runs: the check, then the chosen profile's KubeSpawner and its pod."""
    spawner.user_options = user_options
    spawner.apply_user_options(spawner, user_options)
    child = spawner.construct_child()
    assert type(child).__name__ == "KubeSpawner"
    return await pod_dict(await child.get_pod_manifest())


@pytest.mark.usefixtures("kubeconfig")
def test_a_gpu_profile_pod_has_its_image_limits_and_gpus(generated: dict[str, Any]) -> None:
    async def run() -> dict[str, Any]:
        return await child_pod(profiles_spawner(generated, fake_user("alice")), {"profile": "gpu"})

    container = notebook_container(run_alone(run()))
    assert container["image"] == "registry.example.edu/campushub/user-gpu:2026.1"
    assert quantities(container["resources"]["limits"]) == {"cpu": 8, "memory": 32 * GiB, "nvidia.com/gpu": 2}
    assert quantities(container["resources"]["requests"]) == {"cpu": 8, "memory": 32 * GiB}


@pytest.mark.usefixtures("kubeconfig")
def test_a_start_without_a_choice_gets_the_course_default_on_kubernetes(generated: dict[str, Any]) -> None:
    async def run() -> dict[str, Any]:
        return await child_pod(profiles_spawner(generated, fake_user("alice")), {})

    container = notebook_container(run_alone(run()))
    assert container["image"].endswith("user-gpu:2026.1")


@pytest.mark.usefixtures("kubeconfig")
def test_an_open_profile_pod_gets_the_campus_defaults(generated: dict[str, Any]) -> None:
    async def run() -> dict[str, Any]:
        return await child_pod(profiles_spawner(generated, fake_user("bob")), {"profile": "standard"})

    container = notebook_container(run_alone(run()))
    assert container["image"] == "registry.example.edu/campushub/user:2026.1"
    assert quantities(container["resources"]["limits"]) == {"cpu": 1, "memory": 2 * GiB}
    assert {"name": "JUPYTERHUB_ACTIVITY_INTERVAL", "value": "300"} in container["env"]


@pytest.mark.usefixtures("kubeconfig")
def test_a_hidden_profile_or_an_extra_option_is_refused_before_any_pod(generated: dict[str, Any]) -> None:
    from campushub.compute.profile_spawner import ProfileRefusedError

    async def run(options: dict[str, Any]) -> None:
        await child_pod(profiles_spawner(generated, fake_user("bob")), options)

    for options in ({"profile": "gpu"}, {"profile": "big"}, {"profile": "standard", "image": "evil:latest"}):
        with pytest.raises(ProfileRefusedError) as refused:
            run_alone(run(options))
        assert refused.value.status_code == 403


@pytest.mark.usefixtures("kubeconfig")
def test_the_form_lists_only_the_profiles_a_person_may_use(generated: dict[str, Any]) -> None:
    async def form(user: SimpleNamespace) -> str:
        return await profiles_spawner(generated, user).get_options_form()

    bob, researcher = run_alone(form(fake_user("bob"))), run_alone(form(fake_user("rita", ("research",))))
    assert bob == ""  # one profile: no form, the start goes ahead with it
    assert 'value="big"' in researcher and 'value="gpu"' not in researcher


def test_make_pod_takes_the_profile_overrides_as_they_are(campus: CampusConfig) -> None:
    from kubespawner.objects import make_pod

    overrides = k8s_backend.profile_overrides(campus, campus.compute.profiles["gpu"])
    pod = make_pod(
        name="jupyter-alice",
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image=overrides["image"],
        image_pull_policy="IfNotPresent",
        cpu_limit=overrides["cpu_limit"],
        cpu_guarantee=overrides["cpu_guarantee"],
        mem_limit=overrides["mem_limit"],
        mem_guarantee=overrides["mem_guarantee"],
        extra_resource_limits=overrides["extra_resource_limits"],
    )
    limits = notebook_container(run_alone(pod_dict(pod)))["resources"]["limits"]
    assert quantities(limits) == {"cpu": 8, "memory": 32 * GiB, "nvidia.com/gpu": 2}


def test_the_gpu_resource_name_is_the_clusters(campus_model: type[CampusConfig]) -> None:
    campus = load(campus_model, CAMPUS, compute__kubernetes__gpu_resource="amd.com/gpu")
    assert k8s_backend.profile_overrides(campus, campus.compute.profiles["gpu"])["extra_resource_limits"] == {
        "amd.com/gpu": "2"
    }


# --- what cannot map ------------------------------------------------------------------------------------------------


def refusal(model: type[CampusConfig], text: str = CAMPUS, **changes: Any) -> str:
    with pytest.raises(UserError) as refused:
        values(load(model, text, **changes), HUB_IMAGE)
    return str(refused.value)


def test_a_slurm_profile_is_refused_naming_its_slurm_keys(campus_model: type[CampusConfig]) -> None:
    message = refusal(
        campus_model,
        compute__slurm={"account": "teaching"},
        compute__profiles__gpu={"title": "GPU", "backend": "slurm", "partition": "gpu", "time_limit": "4h", "gpus": 1},
        courses=None,
    )
    assert "compute.profiles.gpu.partition: a Slurm partition has no meaning on Kubernetes" in message
    assert "compute.profiles.gpu.time_limit:" in message
    assert "compute.profiles.gpu.backend: the profile runs on `slurm`" in message


def test_a_local_profile_and_a_local_campus_are_refused(campus_model: type[CampusConfig]) -> None:
    message = refusal(
        campus_model,
        compute__backend="local",
        compute__profiles={"standard": {"title": "Standard", "environment": "/opt/envs/stats"}},
        courses=None,
    )
    assert "compute.backend: it is `local`" in message
    assert "compute.profiles.standard.environment: a Python environment" in message
    assert "compute.profiles.standard.backend: the profile runs on `local`" in message


@pytest.mark.parametrize(
    ("key", "changes"),
    [
        ("compute.environment", {"compute__environment": "/opt/env"}),
        ("compute.process_limit", {"compute__process_limit": 256}),
        ("compute.min_free_memory", {"compute__min_free_memory": "1G"}),
        ("listen.tls_cert", {"listen": {"tls_cert": "/etc/c.pem", "tls_key": "/etc/k.pem"}}),
    ],
)
def test_campus_keys_kubernetes_cannot_honour_are_named(
    campus_model: type[CampusConfig], key: str, changes: dict[str, Any]
) -> None:
    assert f"\n{key}: " in refusal(campus_model, **changes)


def test_keys_a_kubernetes_profile_has_no_use_for_are_refused_when_campus_yaml_loads(
    campus_model: type[CampusConfig],
) -> None:
    with pytest.raises(ValidationError) as refused:
        load(campus_model, CAMPUS, compute__profiles__gpu__time_limit="4h")
    assert "`kubernetes` backend, which has no use for `time_limit`" in str(refused.value)


def test_image_digests_are_refused_naming_the_key(campus_model: type[CampusConfig]) -> None:
    message = refusal(campus_model, compute__profiles__gpu__image="registry.example.edu/u@sha256:" + "0" * 64)
    assert message.startswith("compute.profiles.gpu.image: ")


def test_an_image_without_a_tag_is_latest_and_a_registry_port_is_no_tag() -> None:
    assert kubernetes.split_image("registry:5000/hub", "x") == {"name": "registry:5000/hub", "tag": "latest"}
    assert kubernetes.split_image("registry:5000/hub:1.2", "x") == {"name": "registry:5000/hub", "tag": "1.2"}


def test_campushub_up_refuses_the_kubernetes_backend(campus: CampusConfig) -> None:
    (probe,) = KubernetesBackend().probes(campus, kubernetes.pod_layout(campus))
    assert "campushub deploy kubernetes" in probe.problem
