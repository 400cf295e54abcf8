"""`campushub check` for sign-in methods: what an admin needs to hear before students try.

Misconfigured LDAP is the most common support question for JupyterHub
deployments; each step (connect, TLS, bind, search base, allow rules) is
tried on its own so the failure names the step and the DN involved.
"""

from __future__ import annotations

import ssl

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPSocketOpenError

from campushub.config.schema import CampusConfig
from campushub.identity.directory import open_connection
from campushub.identity.methods.ldap import LdapSignIn
from campushub.identity.methods.oidc import OidcSignIn
from campushub.identity.oidc import discovery_url_for, fetch_discovery


def sign_in_problems(config: CampusConfig) -> list[tuple[str, str | None]]:
    """(probe name, problem or None) for every configured sign-in method instance that can be probed."""
    return [probe for method in config.sign_in.instances() for probe in method.probes()]


def oidc_allow_rule_problem(name: str, oidc: OidcSignIn) -> str | None:
    """Default deny said aloud; and `allow_all` that would let the whole world in said louder."""
    if not (oidc.allow_all or oidc.allowed_groups or oidc.admin_groups):
        return (
            f"nobody from this provider can sign in: `sign_in.oidc.{name}.allowed_groups` is empty and "
            "`allow_all` is false (default deny)."
        )
    if oidc.allow_all and oidc.preset == "google" and not oidc.hosted_domain:
        return (
            f"`allow_all` without `hosted_domain` lets every Google account in, personal ones included: "
            f"set `sign_in.oidc.{name}.hosted_domain` to your Workspace domain(s)."
        )
    if oidc.allow_all and oidc.preset == "github" and not oidc.github_url:  # github.com: everyone on earth
        return (
            f"`allow_all` lets every GitHub account in: use `sign_in.oidc.{name}.allowed_groups` "
            "(`org` or `org:team`) instead."
        )
    return None


def oidc_problems(name: str, oidc: OidcSignIn) -> list[tuple[str, str | None]]:
    """The provider's discovery document fetched, its issuer and endpoints shown; default deny said aloud."""
    results: list[tuple[str, str | None]] = [(f"oidc {name} allow rules", oidc_allow_rule_problem(name, oidc))]
    if oidc.preset == "github":
        results.append(github_api_problem(name, oidc))
        return results
    url = discovery_url_for(oidc.preset, oidc.discovery_url, oidc.tenant)
    try:
        document = fetch_discovery(url)
        endpoints = {key: document[key] for key in ("issuer", "authorization_endpoint", "token_endpoint")}
    except (OSError, ValueError, KeyError) as exc:
        results.append((f"oidc {name} discovery", f"cannot read {url}: {exc}"))
        return results
    shown = ", ".join(f"{key} {value}" for key, value in endpoints.items())
    results.append((f"oidc {name} discovery ({shown})", None))
    return results


def github_api_url(github_url: str | None) -> str:
    """github.com's API has a host of its own; GitHub Enterprise Server serves it under /api/v3."""
    return f"{github_url.rstrip('/')}/api/v3" if github_url else "https://api.github.com"


def github_api_problem(name: str, github: OidcSignIn) -> tuple[str, str | None]:
    """GitHub has no discovery document; its API's /meta says whether the hub can reach it at all."""
    url = f"{github_api_url(github.github_url)}/meta"
    try:
        fetch_discovery(url)
    except (OSError, ValueError) as exc:
        return (f"oidc {name} github api", f"cannot read {url}: {exc}")
    return (f"oidc {name} github api ({url})", None)


def ldap_problems(ldap: LdapSignIn, name: str = "ldap") -> list[tuple[str, str | None]]:
    """Each step on its own; probes are named `ldap ...` for the one directory, `ldap NAME ...` for several."""
    label = "ldap" if name == "ldap" else f"ldap {name}"
    key = "sign_in.ldap" if name == "ldap" else f"sign_in.ldap.{name}"
    results: list[tuple[str, str | None]] = [(f"{label} allow rules", allow_rule_problem(ldap, key))]
    try:
        conn = open_connection(ldap)
    except (LDAPSocketOpenError, LDAPException, OSError, ssl.SSLError) as exc:
        results.append((f"{label} connect", f"cannot connect to {ldap.url} with tls: {ldap.tls}: {exc}"))
        return results
    results.append((f"{label} connect", None))
    search = ldap.search
    if search is None:
        return results
    who = search.bind_dn or "anonymous"
    try:
        bound = conn.rebind(user=search.bind_dn, password=search.bind_password or "")
    except LDAPBindError:
        bound = False
    if not bound:
        reason = (conn.result or {}).get("description") or "refused"
        results.append(
            (f"{label} bind", f"bind as {who} failed: {reason}. Check `{key}.search.bind_dn` and its password.")
        )
        return results
    results.append((f"{label} bind", None))
    found = conn.search(search.base, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[])
    problem = None if found else f"search base {search.base} not found or not readable by {who}"
    results.append((f"{label} search base", problem))
    conn.unbind()
    return results


def allow_rule_problem(ldap: LdapSignIn, key: str = "sign_in.ldap") -> str | None:
    if ldap.allow_all or ldap.allowed_groups or ldap.admin_groups:
        return None
    return (
        f"nobody from the directory can sign in: `{key}.allowed_groups` is empty and `allow_all` is false "
        "(default deny). Name the groups whose members may sign in."
    )
