"""CampusHub's own sign-in methods, compute backends and services, registered like any plug-in's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from campushub.identity.methods.kerberos import KerberosMethod
from campushub.identity.methods.ldap import LdapMethod
from campushub.identity.methods.local import LocalMethod
from campushub.identity.methods.lti import LtiMethod
from campushub.identity.methods.oidc import OidcMethod
from campushub.identity.methods.saml import SamlMethod
from campushub.plugins import hookimpl

if TYPE_CHECKING:
    from campushub.compute.backend import ComputeBackend
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout
    from campushub.identity.methods.base import SignInMethod
    from campushub.services import Service


@hookimpl
def campushub_sign_in_methods() -> list[type[SignInMethod]]:
    # Page order: password forms first, then one button per provider.
    return [LocalMethod, LdapMethod, OidcMethod, SamlMethod, KerberosMethod, LtiMethod]


@hookimpl
def campushub_compute_backends() -> list[type[ComputeBackend]]:
    from campushub.compute.backends.docker import DockerBackend
    from campushub.compute.backends.kubernetes import KubernetesBackend
    from campushub.compute.backends.local import LocalBackend
    from campushub.compute.backends.slurm import SlurmBackend

    return [LocalBackend, DockerBackend, SlurmBackend, KubernetesBackend]


@hookimpl
def campushub_services(config: CampusConfig, layout: Layout) -> list[Service]:
    from campushub.services.builtin import builtin_services

    return builtin_services(config, layout)
