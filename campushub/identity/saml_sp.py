"""The SAML 2.0 service provider's pure parts: pysaml2's configuration, and who a verified assertion names.

pysaml2 does the protocol (AuthnRequests, XML signatures through xmlsec1, audience, recipient, validity
and InResponseTo checks); this module only says how: what CampusHub requires of an IdP's answer, and how
eduPerson attributes become a CampusHub username and groups. The handlers that carry it over HTTP (login,
the assertion consumer, metadata, logout) build on these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

# eduPerson and its friends, as IdPs send them (friendly names; pysaml2 maps the urn:oid forms to these).
EPPN = "eduPersonPrincipalName"
UID = "uid"
AFFILIATION = "eduPersonAffiliation"
SCOPED_AFFILIATION = "eduPersonScopedAffiliation"
IS_MEMBER_OF = "isMemberOf"
DISPLAY_NAME = "displayName"
MAIL = "mail"
DEFAULT_USERNAME_ATTRIBUTES = (EPPN, UID)
DEFAULT_GROUP_ATTRIBUTES = (AFFILIATION, IS_MEMBER_OF)
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


class AssertionRefused(ValueError):
    """A verified assertion that still cannot sign anyone in here; the message is for the person."""


@dataclass(frozen=True)
class SPEndpoints:
    entity_id: str  # the SP's metadata URL, by convention
    acs_url: str
    slo_url: str


def sp_config(
    endpoints: SPEndpoints,
    key_file: Path,
    cert_file: Path,
    idp_metadata_files: list[Path],
    *,
    signed_response_only: bool = False,
    clock_skew: int = 60,
) -> dict[str, Any]:
    """pysaml2's SPConfig for one method.

    Signed assertions are required; `signed_response_only` accepts an unsigned assertion inside a signed
    response, for IdPs that sign only the envelope (the admin has to say so). `clock_skew` bounds how far the
    IdP's clock may be from ours for NotBefore and NotOnOrAfter.
    """
    return {
        "entityid": endpoints.entity_id,
        "metadata": {"local": [str(path) for path in idp_metadata_files]},
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "encryption_keypairs": [{"key_file": str(key_file), "cert_file": str(cert_file)}],
        "accepted_time_diff": clock_skew,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(endpoints.acs_url, BINDING_HTTP_POST)],
                    "single_logout_service": [(endpoints.slo_url, BINDING_HTTP_REDIRECT)],
                },
                "want_assertions_signed": not signed_response_only,
                "want_response_signed": signed_response_only,
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "allow_unsolicited": False,
                "name_id_format_allow_create": True,
            }
        },
    }


def username_from(
    attributes: dict[str, list[str]], names: tuple[str, ...], scopes: list[str], issuer_scopes: set[str] | None = None
) -> str:
    """The first of `names` the assertion carries, its `@scope` removed when the scope is allowed.

    With `scopes`, a scoped value (eduPersonPrincipalName: `alice@uni.edu`) from another scope is refused:
    two universities in one federation both have an `alice`. `issuer_scopes` are the scopes the asserting
    IdP's metadata declares (shibmd:Scope): a federation's other members can sign, but must not be believed
    about names of the campus's scope, so a scope the IdP does not own is refused whatever `scopes` says.
    """
    for name in names:
        values = attributes.get(name) or []
        if not values:
            continue
        value = str(values[0]).strip()
        if "@" in value:
            local, scope = value.rsplit("@", 1)
            if issuer_scopes is not None and scope.lower() not in issuer_scopes:
                raise AssertionRefused(f"your identity provider may not vouch for accounts of {scope}")
            if scopes and scope.lower() not in {allowed.lower() for allowed in scopes}:
                raise AssertionRefused(f"accounts of {scope} cannot sign in here")
            return local if scopes else value
        return value
    raise AssertionRefused(f"the identity provider sent none of {', '.join(names)}: ask it to release one")


def groups_from(attributes: dict[str, list[str]], names: tuple[str, ...]) -> list[str]:
    """The person's groups: every value of the group attributes (affiliations, memberships), once each."""
    found: list[str] = []
    for name in names:
        for value in attributes.get(name) or []:
            if value not in found:
                found.append(str(value))
    return found


SHIBMD = "urn:mace:shibboleth:metadata:1.0"


def idp_scopes(xml: str) -> dict[str, set[str]]:
    """{IdP entity ID: the scopes its metadata declares (shibmd:Scope)}, for IdPs that declare any.

    Scopes given as regular expressions are left out: a name whose scope only a pattern allows is refused.
    """
    from defusedxml import ElementTree

    root = ElementTree.fromstring(xml)
    entities = [root] if root.tag == f"{{{MD}}}EntityDescriptor" else root.iter(f"{{{MD}}}EntityDescriptor")
    found: dict[str, set[str]] = {}
    for entity in entities:
        descriptor = entity.find(f"{{{MD}}}IDPSSODescriptor")
        if descriptor is None:
            continue
        scopes = {
            (element.text or "").strip().lower()
            for element in entity.iter(f"{{{SHIBMD}}}Scope")
            if element.get("regexp", "false").lower() not in ("true", "1") and (element.text or "").strip()
        }
        if scopes:
            found[entity.get("entityID", "")] = scopes
    return found


def first_value(attributes: dict[str, list[str]], name: str) -> str | None:
    values = attributes.get(name) or []
    return str(values[0]).strip() if values else None


def metadata_summary(xml: str, now: float | None = None) -> tuple[list[str], list[str]]:
    """(IdP entity IDs, problems) of a metadata document: what `campushub check` shows and warns of.

    A signing certificate that has expired, or expires within 30 days, is a problem: the IdP's signatures
    stop verifying the day it changes keys, and a federation announces a rollover ahead.
    """
    import datetime

    from cryptography import x509
    from defusedxml import ElementTree

    namespaces = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        return [], [f"not XML: {exc}"]
    entities = [root] if root.tag.endswith("EntityDescriptor") else root.findall("md:EntityDescriptor", namespaces)
    idps, problems = [], []
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC) if now else datetime.datetime.now(datetime.UTC)
    for entity in entities:
        descriptor = entity.find("md:IDPSSODescriptor", namespaces)
        if descriptor is None:
            continue
        entity_id = entity.get("entityID", "?")
        idps.append(entity_id)
        for element in descriptor.findall(".//ds:X509Certificate", namespaces):
            der = "".join((element.text or "").split())
            pem = f"-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n"
            try:
                expiry = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
            except ValueError:
                problems.append(f"{entity_id}: a certificate in its metadata cannot be read")
                continue
            if expiry <= moment:
                problems.append(f"{entity_id}: its certificate expired on {expiry:%Y-%m-%d}")
            elif expiry <= moment + datetime.timedelta(days=30):
                problems.append(f"{entity_id}: its certificate expires on {expiry:%Y-%m-%d}")
    if not idps:
        problems.append("no identity provider (IDPSSODescriptor) in it")
    return idps, problems
