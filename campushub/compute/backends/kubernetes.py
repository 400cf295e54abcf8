"""The `kubernetes` backend: users' servers as pods, run by KubeSpawner in a hub inside the cluster.

`campushub up` cannot run that hub (it runs on this machine): `campushub deploy kubernetes` writes the
Helm values that make the Zero to JupyterHub chart's hub CampusHub's (campushub/deploy/kubernetes.py).
This module is what campus.yaml says about pods: their image, their resources, GPUs as an extended
resource, and the traits a profile sets on KubeSpawner. Module-level imports stay light: the plug-in
registry imports it while the schema is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from campushub.compute.activity import activity_interval
from campushub.compute.backend import ComputeBackend, Probe
from campushub.config.sections import Section
from campushub.hub.merge import Settings

if TYPE_CHECKING:
    from campushub.compute.profiles import Profile
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

BACKEND = "kubernetes"
KUBESPAWNER = "kubespawner.KubeSpawner"


class KubernetesCompute(Section):
    """Servers as pods on a Kubernetes cluster, run by a hub in the cluster (`campushub deploy kubernetes`)."""

    image: str = Field(
        min_length=1,
        description="The container image users' servers run in, `registry/name:tag`, with `jupyterhub-singleuser` "
        "on its PATH. A profile's `image` replaces it.",
    )
    gpu_resource: str = Field(
        "nvidia.com/gpu",
        description="The extended resource a profile's `gpus` asks for (`amd.com/gpu` on AMD nodes): the name "
        "the cluster's device plug-in advertises.",
    )


def _cores(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def resource_traits(cpu: float | None, memory: int | None, gpus: int, gpu_resource: str) -> dict[str, Any]:
    """KubeSpawner's limits and guarantees for one server; only what is set.

    The guarantee equals the limit: Kubernetes does the same for a limit given without a request, and it keeps
    CampusHub's promise that a server starts only where its memory is free (the local backend's
    `min_free_memory` check), instead of a node that would run out under its users.
    """
    traits: dict[str, Any] = {}
    if cpu is not None:
        traits["cpu_limit"] = traits["cpu_guarantee"] = _cores(cpu)
    if memory is not None:
        traits["mem_limit"] = traits["mem_guarantee"] = memory
    if gpus:
        # Extended resources are whole numbers, and Kubernetes takes their request from the limit.
        traits["extra_resource_limits"] = {gpu_resource: str(gpus)}
    return traits


def default_traits(config: CampusConfig) -> dict[str, Any]:
    """KubeSpawner's traits for every server: the image, `compute.cpu_limit`/`memory_limit`, JupyterLab, and the
    activity interval CampusHub's culler timing assumes."""
    section: KubernetesCompute = getattr(config.compute, BACKEND)
    compute = config.compute
    return {
        "image": section.image,
        "default_url": "/lab",
        "environment": {"JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(compute.idle_timeout))},
        **resource_traits(compute.cpu_limit, compute.memory_limit, 0, section.gpu_resource),
    }


def profile_overrides(config: CampusConfig, profile: Profile) -> dict[str, Any]:
    """What choosing `profile` sets on KubeSpawner: its image, resources and GPUs (an extended resource).

    These are the traits CampusProfilesSpawner gives the KubeSpawner it makes for a start, after checking
    that the person may use the profile; they have the shape of a kubespawner `kubespawner_override`.
    """
    section: KubernetesCompute = getattr(config.compute, BACKEND)
    overrides = resource_traits(profile.cpu, profile.memory, profile.gpus, section.gpu_resource)
    if profile.image is not None:
        overrides = {"image": profile.image, **overrides}
    return overrides


class KubernetesBackend(ComputeBackend):
    """Servers as pods, each with its own limits, run by KubeSpawner in a hub on the cluster."""

    name = BACKEND
    config_model = KubernetesCompute
    summary = "pods on a Kubernetes cluster, with a hub in the cluster (`campushub deploy kubernetes`)"
    spawner_class = KUBESPAWNER
    profile_keys = frozenset({"image", "cpu", "memory", "gpus"})

    def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
        return {"JupyterHub": {"spawner_class": KUBESPAWNER}, "KubeSpawner": default_traits(config)}

    def profile_settings(self, config: CampusConfig, layout: Layout, profile: Profile) -> dict[str, Any]:
        return profile_overrides(config, profile)

    def limit_probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """Kubernetes enforces memory and CPU limits itself (cgroups on the node); the rest is `problems`."""
        return []

    def probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """`campushub up` runs a hub on this machine, which cannot be the cluster's hub."""
        return [
            Probe(
                "kubernetes backend",
                "`compute.backend: kubernetes` servers are started by a hub inside the cluster: write its Helm "
                "values with `campushub deploy kubernetes` (docs/kubernetes.md) instead of `campushub up`.",
            )
        ]
