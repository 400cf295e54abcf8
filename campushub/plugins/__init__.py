"""Plug-ins: pluggy hooks that every sign-in method, compute backend and service is registered through.

`manager()` holds CampusHub's built-ins first, then every package installed with a `campushub`
entry point. Everything that needs the list of methods or backends (the schema, the sign-in page,
the hub's settings, `campushub check`) asks the registries here, never a list of its own.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import pluggy

from campushub.plugins import hookspecs

if TYPE_CHECKING:
    from campushub.compute.backend import ComputeBackend
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout
    from campushub.identity.methods.base import SignInMethod
    from campushub.services import Service

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


@cache
def manager() -> pluggy.PluginManager:
    from campushub.plugins import builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="campushub.builtin")
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    return pm


def _in_registration_order(results: list[list]) -> list:
    # pluggy calls the last registered first: reversed, CampusHub's built-ins come first.
    return [item for batch in reversed(results) for item in batch or ()]


@cache
def sign_in_method_types() -> dict[str, type[SignInMethod]]:
    """Every sign-in method type by its `type_name`, built-ins first; two plug-ins may not share a name."""
    return _unique(_in_registration_order(manager().hook.campushub_sign_in_methods()), "sign-in method")


@cache
def compute_backend_types() -> dict[str, type[ComputeBackend]]:
    """Every compute backend by its `name`, built-ins first."""
    return _unique(_in_registration_order(manager().hook.campushub_compute_backends()), "compute backend")


def services_for(config: CampusConfig, layout: Layout) -> list[Service]:
    """Every service to run beside the hub for this configuration, CampusHub's own first."""
    return _in_registration_order(manager().hook.campushub_services(config=config, layout=layout))


def plugin_hub_settings(config: CampusConfig, layout: Layout) -> list[tuple[str, dict]]:
    """(plug-in name, settings) from every `campushub_hub_settings` hook, in registration order."""
    pm = manager()
    found = []
    for impl in pm.hook.campushub_hub_settings.get_hookimpls():
        settings = impl.function(config=config, layout=layout)
        if settings:
            found.append((f"plug-in {impl.plugin_name}", settings))
    return found


def _unique(types: list, what: str) -> dict:
    found: dict = {}
    for cls in types:
        key = getattr(cls, "type_name", None) or cls.name
        if key in found and found[key] is not cls:
            raise RuntimeError(f"two plug-ins provide the {what} {key!r}: {found[key].__module__}, {cls.__module__}")
        found[key] = cls
    return found


def plugin_names() -> list[str]:
    """Installed plug-ins other than CampusHub's built-ins, for the start-up log and `campushub check`."""
    return [name for name, _ in manager().list_name_plugin() if name != "campushub.builtin"]
