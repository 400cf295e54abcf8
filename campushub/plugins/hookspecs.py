"""The hooks a CampusHub plug-in may implement.

CampusHub's own sign-in methods, compute backends and services are registered through these same
hooks (campushub/plugins/builtin.py), so a plug-in package is built exactly like they are. A
package declares its module under the `campushub` entry-point group:

    [project.entry-points.campushub]
    my_plugin = "my_package.campushub_plugin"

and implements any of these functions there, decorated with `campushub.plugins.hookimpl`.
docs/development.md walks through writing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from campushub.compute.backend import ComputeBackend
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout
    from campushub.identity.methods.base import SignInMethod
    from campushub.services import Service

PROJECT = "campushub"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def campushub_sign_in_methods() -> list[type[SignInMethod]]:
    """Sign-in method types this plug-in provides (subclasses of `SignInMethod`).

    Each type's `type_name` becomes a key under `sign_in:` in campus.yaml, validated by its
    `config_model`; its instances appear on the sign-in page in registration order.
    """


@hookspec
def campushub_compute_backends() -> list[type[ComputeBackend]]:
    """Compute backends this plug-in provides (subclasses of `ComputeBackend`), chosen by `compute.backend`."""


@hookspec
def campushub_services(config: CampusConfig, layout: Layout) -> list[Service]:
    """Services to run beside the hub for this configuration (an empty list when it needs none)."""


@hookspec
def campushub_hub_settings(config: CampusConfig, layout: Layout) -> dict[str, dict[str, Any]]:
    """Extra JupyterHub settings, `{Class: {trait: value}}`, merged after CampusHub's own.

    Setting a trait CampusHub already sets is an error at start (merging never overwrites);
    the admin's `jupyterhub_config.d` files, loaded after everything, may override anything.
    """
