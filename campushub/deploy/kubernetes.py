"""`campushub deploy kubernetes`: campus.yaml -> values for the Zero to JupyterHub Helm chart (`jupyterhub`).

The chart runs the hub, the proxy and users' pods; the hub image it runs must have CampusHub installed (the
admin builds it: docs/kubernetes.md). The values make that hub CampusHub's:

- `hub.config`: the traits CampusHub's own mappers compute (sign-in methods, admins, courses, branding,
  activity, capacity, the profiles spawner), less what the chart owns (ports, proxy, database file,
  secrets, services);
- `hub.extraConfig`: one call, `finish_hub_config(c)`, for what only the hub pod knows (where CampusHub's
  templates are installed, the database URL the chart chose);
- `hub.services` / `hub.loadRoles`: CampusHub's services (the courses warmer) with their roles; the idle
  culler is the chart's own (`cull`), with CampusHub's timing;
- `singleuser`: the default pod (image, limits), and no `profileList`: profiles stay CampusHub's, checked
  on every start by CampusProfilesSpawner with KubeSpawner as the child class (see `profile_overrides`).

Everything here but `finish_hub_config` is pure (no cluster, no disk), so the values can be reviewed and
unit-tested before a cluster is touched. What cannot mean the same on Kubernetes is an error naming its key,
never silently dropped (`problems`).

The `kubernetes` compute backend (compute/backends/kubernetes.py) is what lets campus.yaml say that servers
are pods (`compute.backend: kubernetes`, `compute.kubernetes.image`) and lets profiles carry `image` and `gpus`.
"""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING, Any

from campushub.compute.activity import activity_interval
from campushub.compute.backends.kubernetes import BACKEND, KUBESPAWNER, default_traits
from campushub.errors import UserError
from campushub.hub.merge import Settings

if TYPE_CHECKING:
    from traitlets.config import Config

    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout
    from campushub.services import Service

# The chart's hub container: its persistent volume (sqlite-pvc) is mounted here, and `python3` is on its PATH
# (the chart's own culler service is started as `python3 -m jupyterhub_idle_culler`).
HUB_HOME = "/srv/jupyterhub"
HUB_PYTHON = "python3"
# Where the effective configuration is mounted in the hub pod (hub.extraFiles, a k8s Secret), for services.
SNAPSHOT_PATH = "/usr/local/etc/campushub/effective-config.json"
EXTRA_CONFIG_KEY = "campushub.py"
EXTRA_CONFIG = (
    "# Written by `campushub deploy kubernetes`: what only the hub pod knows (templates, database URL).\n"
    "from campushub.deploy.kubernetes import finish_hub_config\n"
    "\n"
    "finish_hub_config(c)\n"
)
# Traits of the chart's own making that campus.yaml must not set through hub.config.
CHART_OWNED = {
    "JupyterHub": {
        "bind_url",
        "hub_bind_url",
        "trusted_downstream_ips",
        "db_url",
        "cookie_secret_file",
        "pid_file",
        "cleanup_servers",
        "cleanup_proxy",
        "services",
        "load_roles",
        "template_paths",
    },
    "ConfigurableHTTPProxy": {"api_url", "command", "pid_file", "check_running_interval"},
}
# Set by finish_hub_config from the chart's JupyterHub.db_url: one database, whichever the chart chose.
DB_URL_TRAITS = (("CampusAuthenticator", "db_url"), ("LocalAccountsAuthenticator", "db_url"))
# KubeSpawner trait -> its `singleuser` value in the chart (the chart's jupyterhub_config.py maps them back).
SINGLEUSER_KEYS = {
    "cpu_limit": ("cpu", "limit"),
    "cpu_guarantee": ("cpu", "guarantee"),
    "mem_limit": ("memory", "limit"),
    "mem_guarantee": ("memory", "guarantee"),
    "extra_resource_limits": ("extraResource", "limits"),
    "default_url": ("defaultUrl",),
    "environment": ("extraEnv",),
}


# --- what cannot map ---------------------------------------------------------------------------------------

PROFILE_KEY_PROBLEMS = {
    "environment": "a Python environment on the hub's machine means nothing to a pod: put what it has in a "
    "container image and give the profile `image`",
    "time_limit": "Kubernetes has no time limit for a user's pod (the idle culler, `compute.idle_timeout`, ends "
    "idle servers): remove it",
    "partition": "a Slurm partition has no meaning on Kubernetes: remove it (pods are placed by the scheduler; "
    "GPUs come from `gpus`)",
    "account": "a Slurm account has no meaning on Kubernetes: remove it",
    "qos": "a Slurm quality of service has no meaning on Kubernetes: remove it",
}


def profile_problems(config: CampusConfig) -> list[str]:
    """Each profile must run on the kubernetes backend; keys only another backend knows are named first."""
    found = []
    for slug, profile in config.compute.profiles.items():
        where = f"compute.profiles.{slug}"
        if profile.backend == BACKEND:
            continue
        keys = [key for key in PROFILE_KEY_PROBLEMS if key in profile.set_keys()]
        if keys:
            found += [f"{where}.{key}: {PROFILE_KEY_PROBLEMS[key]}." for key in keys]
        found.append(
            f"{where}.backend: the profile runs on `{profile.backend}`, whose servers cannot start on Kubernetes "
            f"(only `{BACKEND}` profiles can): give it `backend: {BACKEND}` (or remove `backend:` with "
            f"`compute.backend: {BACKEND}`)."
        )
    return found


def problems(config: CampusConfig) -> list[str]:
    """What campus.yaml says that a hub on Kubernetes cannot honour, each naming its key and the fix."""
    compute = config.compute
    found = []
    if compute.backend != BACKEND:
        found.append(
            f"compute.backend: it is `{compute.backend}`, but on Kubernetes users' servers are pods: set "
            f"`compute.backend: {BACKEND}` and `compute.{BACKEND}.image` (the image servers run in)."
        )
    if compute.environment is not None:
        found.append(
            "compute.environment: a Python environment on the hub's machine means nothing to a pod on "
            f"Kubernetes: remove it (servers run in `compute.{BACKEND}.image`)."
        )
    if compute.process_limit is not None:
        found.append(
            "compute.process_limit: the chart cannot give a pod a process limit on Kubernetes (that is the "
            "kubelet's `podPidsLimit`, set for the whole node): remove it."
        )
    if "min_free_memory" in compute.model_fields_set:
        found.append(
            "compute.min_free_memory: on Kubernetes the scheduler places a pod only where its memory guarantee "
            "(`memory_limit`) is free: remove it."
        )
    if config.listen.tls_cert is not None:
        found.append(
            "listen.tls_cert: on Kubernetes HTTPS is served by the chart's proxy (`proxy.https`, see "
            "docs/kubernetes.md), not by the hub: remove `tls_cert` and `tls_key`."
        )
    return found + profile_problems(config)


def check(config: CampusConfig) -> None:
    """Raise one UserError listing everything that cannot map, so that one run shows every fix."""
    found = problems(config)
    if found:
        raise UserError("This campus.yaml cannot be deployed on Kubernetes as it is:\n" + "\n".join(found))


# --- values --------------------------------------------------------------------------------------------------


def split_image(image: str, where: str) -> dict[str, str]:
    """`registry/name:tag` -> the chart's `{name, tag}` (it writes them back as `name:tag`)."""
    if "@" in image:
        raise UserError(f"{where}: `{image}` names a digest; the chart takes `name:tag` images only.")
    name, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry port
        return {"name": image, "tag": "latest"}
    return {"name": name, "tag": tag}


def pod_layout(config: CampusConfig) -> Layout:
    """Where things are in the hub pod, for the mappers that ask (services' snapshot, database file)."""
    from pathlib import Path

    from campushub.hub.layout import Layout

    return Layout(data_dir=Path(HUB_HOME), environment=Path("/usr/local"), proxy_command="", running_as_root=False)


def campus_settings(config: CampusConfig) -> Settings:
    """CampusHub's own traits for the hub pod, from the same mappers `campushub up` uses."""
    from campushub.hub.merge import merge_settings
    from campushub.hub.settings import (
        activity_settings,
        branding_settings,
        capacity_settings,
        compute_settings,
        identity_settings,
    )
    from campushub.plugins import plugin_hub_settings

    layout = pod_layout(config)
    parts = [
        (mapper.__name__, mapper(config, layout))
        for mapper in (identity_settings, branding_settings, activity_settings, capacity_settings, compute_settings)
    ]
    if config.listen.public_url:
        parts.append(("listen", {"JupyterHub": {"public_url": config.listen.public_url}}))
    return merge_settings([*parts, *plugin_hub_settings(config, layout)])


def hub_config(config: CampusConfig) -> Settings:
    """`hub.config`: CampusHub's traits less the chart's own, the database URL and the default pod's traits
    (`singleuser` carries those, so that the chart's image puller and the admin's overrides see them)."""
    settings = campus_settings(config)
    found: Settings = {}
    for section, values in settings.items():
        if section == "KubeSpawner":
            continue
        owned = CHART_OWNED.get(section, set()) | {trait for cls, trait in DB_URL_TRAITS if cls == section}
        kept = {trait: value for trait, value in values.items() if trait not in owned}
        if kept:
            found[section] = kept
    if found.get("JupyterHub", {}).get("spawner_class") == KUBESPAWNER:
        del found["JupyterHub"]["spawner_class"]  # the chart's own choice already
    return found


def singleuser_values(config: CampusConfig) -> dict[str, Any]:
    """`singleuser`: the default pod (image, limits and guarantees, JupyterLab, activity interval)."""
    traits = default_traits(config)
    values: dict[str, Any] = {"image": split_image(traits.pop("image"), f"compute.{BACKEND}.image")}
    for trait, value in traits.items():
        *parents, leaf = SINGLEUSER_KEYS[trait]
        target = values
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return values


def db_values(config: CampusConfig) -> dict[str, Any]:
    """`hub.db`: `database.url` when campus.yaml has one, else SQLite on the chart's persistent volume."""
    url = config.database.url
    if url is None:
        return {"type": "sqlite-pvc"}
    kind = "postgres" if url.startswith("postgresql") else "mysql" if url.startswith("mysql") else "other"
    return {"type": kind, "url": url}


def cull_values(config: CampusConfig) -> dict[str, Any]:
    """`cull`: the chart's jupyterhub-idle-culler with CampusHub's timing (admins' servers are culled too, as
    CampusHub's own culler does)."""
    timeout = config.compute.idle_timeout
    return {"enabled": True, "timeout": timeout, "every": activity_interval(timeout), "adminUsers": True}


def carried_services(config: CampusConfig) -> list[Service]:
    """CampusHub's and plug-ins' services that run in the hub pod: not the culler (the chart's `cull` is it),
    nor the `campushub` command's API service (the command does not run in the cluster), nor yet the library
    (its pages need a port of the hub pod opened to the proxy pod; docs/kubernetes.md says so)."""
    from campushub.plugins import services_for
    from campushub.services.builtin import CLI_SERVICE, CULLER_SERVICE, LIBRARY_SERVICE

    carried = []
    for service in services_for(config, pod_layout(config)):
        if service.name in (CULLER_SERVICE, CLI_SERVICE, LIBRARY_SERVICE):
            continue
        if service.endpoint is not None:
            raise UserError(
                f"service `{service.name}` serves pages on the hub's loopback address, which the chart's proxy "
                "pod cannot reach: it cannot be deployed on Kubernetes yet."
            )
        carried.append(service)
    return carried


def service_values(config: CampusConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """`hub.services` and `hub.loadRoles` (both keyed by name): each service's command run with the hub pod's
    Python, the effective configuration where it reads one, and its role's scopes."""
    services: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    for service in carried_services(config):
        spec: dict[str, Any] = {"display": service.display}
        if service.command:
            command = list(service.command)
            if command[0] == sys.executable:
                command[0] = HUB_PYTHON
            spec["command"] = command
            environment = dict(service.environment)
            if service.reads_snapshot:
                from campushub.config.snapshot import SNAPSHOT_ENV

                environment[SNAPSHOT_ENV] = SNAPSHOT_PATH
            if environment:
                spec["environment"] = environment
        services[service.name] = spec
        if service.scopes:
            roles[service.name] = {"scopes": list(service.scopes), "services": [service.name]}
    return services, roles


def snapshot_file(config: CampusConfig) -> dict[str, Any]:
    """`hub.extraFiles` entry: the effective configuration services read (a k8s Secret: it holds secrets)."""
    from campushub.config.snapshot import snapshot_data

    return {"mountPath": SNAPSHOT_PATH, "stringData": json.dumps(snapshot_data(config), indent=2) + "\n"}


def pre_pulled_images(config: CampusConfig) -> dict[str, Any]:
    """`prePuller.extraImages`: profiles' images, which the chart's pullers cannot see in `hub.config`."""
    images: dict[str, Any] = {}
    for slug, profile in config.compute.profiles.items():
        if profile.image is not None:
            images[f"campushub-profile-{slug}"] = split_image(profile.image, f"compute.profiles.{slug}.image")
    return images


def values(config: CampusConfig, hub_image: str) -> dict[str, Any]:
    """The whole values file, after `check`: `hub_image` is the CampusHub hub image the admin built."""
    check(config)
    services, roles = service_values(config)
    hub: dict[str, Any] = {
        "image": split_image(hub_image, "--hub-image"),
        "db": db_values(config),
        "config": hub_config(config),
        "extraConfig": {EXTRA_CONFIG_KEY: EXTRA_CONFIG},
    }
    if services:
        hub["services"] = services
    if roles:
        hub["loadRoles"] = roles
    if any(service.reads_snapshot for service in carried_services(config)):
        hub["extraFiles"] = {"campushub-effective-config": snapshot_file(config)}
    found: dict[str, Any] = {"hub": hub, "singleuser": singleuser_values(config), "cull": cull_values(config)}
    extra_images = pre_pulled_images(config)
    if extra_images:
        found["prePuller"] = {"extraImages": extra_images}
    return found


HEADER = """\
# Helm values for the Zero to JupyterHub chart (`jupyterhub`, 4.x), written by `campushub deploy kubernetes`
# from campus.yaml. It holds secrets (sign-in client secrets, bind passwords): keep it private.
# Deploy: helm upgrade --install <release> jupyterhub/jupyterhub --version <4.x> -f <this file>  (docs/kubernetes.md)
"""


def render_values(config: CampusConfig, hub_image: str) -> str:
    """The values file as YAML (ruamel.yaml, block style, multi-line strings as literal blocks)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: literal(value) for key, value in node.items()}
        if isinstance(node, list):
            return [literal(item) for item in node]
        if isinstance(node, str) and "\n" in node:
            return LiteralScalarString(node)
        return node

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    out.write(HEADER)
    yaml.dump(literal(values(config, hub_image)), out)
    return out.getvalue()


# --- in the hub pod ---------------------------------------------------------------------------------------------


def finish_hub_config(c: Config) -> None:
    """Run by `hub.extraConfig` in the hub pod, after the chart's settings and `hub.config`.

    CampusHub's templates are wherever the hub image installed CampusHub; CampusHub's own tables (accounts,
    links) live in the database the chart configured; and each profile's spawner class is imported as the hub
    starts, so a wrong one fails the start rather than a student's.
    """
    from traitlets import import_item

    from campushub.hub.settings import TEMPLATES

    if "template_paths" not in c.JupyterHub:
        c.JupyterHub.template_paths = [str(TEMPLATES)]
    if "db_url" in c.JupyterHub:
        for section, trait in DB_URL_TRAITS:
            c[section][trait] = c.JupyterHub.db_url
    if "CampusProfilesSpawner" in c and "profiles" in c.CampusProfilesSpawner:
        for offer in c.CampusProfilesSpawner.profiles:
            import_item(offer["spawner_class"])
