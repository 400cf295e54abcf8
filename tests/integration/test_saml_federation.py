"""A federation's signed metadata over HTTP: IdPs offered by name, and nothing used that the federation did not sign.

The federation service aggregates the real simplesamlphp IdP with a second member and signs the document with
xmlsec1, as InCommon or DFN-AAI do; the hub fetches it on its schedule and checks the signature against the
federation's certificate. Documents that must be refused: unsigned, changed after signing, signed with another
key (with its own certificate, or a bare public key in KeyInfo), and signed only inside (a wrapped element).
With two real IdPs in one federation, each may answer only the requests the hub sent to it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from campushub.identity.saml_metadata import MetadataRefused, verify_signature
from tests.components.federation import aggregate, entity_descriptors, running_federation, sign, signed_aggregate
from tests.components.saml_idp import IdPUser, make_key_pair, running_idp, sign_in
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

STUDENT = IdPUser("fed1", "fed1-password", {"uid": ["fed1"], "eduPersonAffiliation": ["student"]})
OTHER_IDP = "https://idp.other-university.test/idp"
INTRUDER_IDP = "https://idp.intruder.test/idp"


def member_idp(entity_id: str, name: str) -> str:
    """Another member's IdP, as a federation lists it: SAML 2.0, a single sign-on endpoint, an organisation."""
    return (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{entity_id}/sso"/></md:IDPSSODescriptor>'
        f'<md:Organization><md:OrganizationName xml:lang="en">{name}</md:OrganizationName>'
        f'<md:OrganizationDisplayName xml:lang="en">{name}</md:OrganizationDisplayName>'
        '<md:OrganizationURL xml:lang="en">https://other-university.test/</md:OrganizationURL></md:Organization>'
        "</md:EntityDescriptor>"
    )


def test_a_federations_signed_metadata_offers_its_idps_and_a_document_that_does_not_verify_is_never_used(
    campus, hub_factory
):
    with running_idp([STUDENT]) as idp, running_federation() as federation:
        members = entity_descriptors(idp.metadata(), member_idp(OTHER_IDP, "Other University"))
        signed = signed_aggregate(members, federation.key, federation.certificate)
        federation.publish(aggregate(members))  # unsigned, to begin with
        campus.update(
            **{
                "sign_in.saml": {
                    "fed": {
                        "idp_metadata_url": federation.url,
                        "metadata_signing_certificate": str(federation.certificate),
                        "metadata_refresh_hours": 0.001,  # 3.6 s
                        "allowed_groups": ["student"],
                    }
                }
            }
        )
        checked = campus.cli("check")
        assert "saml fed metadata" in checked.stdout and "refused: it is not signed" in checked.stdout, checked.stdout
        assert checked.returncode != 0

        hub = hub_factory()
        login = f"{hub.url}/hub/saml/fed/login?next={quote('/hub/home')}"
        unavailable = requests.get(login, timeout=30)
        assert unavailable.status_code == 503 and "metadata could not be read or verified" in unavailable.text
        assert hub.wait_for_output("refused: it is not signed")

        federation.publish(signed)
        time.sleep(4)  # the failed fetch is tried again after the refresh interval
        chooser = requests.get(login, timeout=30)
        assert chooser.status_code == 200 and "Other University" in chooser.text, chooser.text[:400]
        assert quote(idp.entity_id, safe="") in chooser.text

        metadata = requests.get(f"{hub.url}/hub/saml/fed/metadata", timeout=30).text
        certificate = re.search(r"X509Certificate>([^<]+)<", metadata).group(1)
        idp.trust(f"{hub.url}/hub/saml/fed/metadata", f"{hub.url}/hub/saml/fed/acs", certData=certificate)
        session = requests.Session()
        action, posted = sign_in(session, f"{login}&idp={quote(idp.entity_id, safe='')}", "fed1", "fed1-password")
        landed = session.post(action, data=posted, allow_redirects=False, timeout=30)
        assert landed.status_code == 302 and landed.headers["Location"].endswith("/hub/home"), landed.text[-600:]
        assert "ok   saml fed metadata" in campus.cli("check").stdout

        # Someone adds an IdP of their own to the signed document on its way: refused, the signed one stays.
        fetched = federation.fetches
        federation.publish(
            signed.replace(
                "</md:EntitiesDescriptor>", member_idp(INTRUDER_IDP, "Intruder") + "</md:EntitiesDescriptor>"
            )
        )
        time.sleep(4)
        chooser = requests.get(login, timeout=30)
        assert federation.fetches > fetched, "the hub fetched the metadata again on its schedule"
        assert "Other University" in chooser.text and "Intruder" not in chooser.text
        assert hub.wait_for_output("its signature does not verify")
        assert hub.wait_for_output("the metadata fetched before stays in use")


def test_only_the_federations_signature_over_the_whole_document_verifies(tmp_path: Path):
    with running_federation() as federation:
        members = member_idp(OTHER_IDP, "Other University")
        verify_signature(signed_aggregate(members, federation.key, federation.certificate), federation.certificate)

        make_key_pair(tmp_path, "intruder")
        refusals = {
            "not signed": aggregate(members),
            "does not verify": signed_aggregate(members, federation.key, federation.certificate).replace(
                "Other University", "Intruder"
            ),
            "does not verify with": signed_aggregate(members, tmp_path / "intruder.key", tmp_path / "intruder.crt"),
            # A bare public key in KeyInfo: xmlsec1 would take it, unless told keys come only from the certificate.
            "does not verify with ": signed_aggregate(members, tmp_path / "intruder.key", None, key_value=True),
        }
        for said, document in refusals.items():
            with pytest.raises(MetadataRefused, match=said.strip()):
                verify_signature(document, federation.certificate)

        # A signature over one member's descriptor only, the rest of the document left open.
        inner = sign(
            aggregate(member_idp(OTHER_IDP, "Other").replace(
                'entityID=', 'ID="member-1" entityID=', 1
            ).replace("<md:IDPSSODescriptor", _inner_signature() + "<md:IDPSSODescriptor", 1)),
            federation.key,
            federation.certificate,
            node="urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        )  # fmt: skip
        with pytest.raises(MetadataRefused, match="not signed"):
            verify_signature(inner, federation.certificate)
        with pytest.raises(MetadataRefused, match="not well-formed"):
            verify_signature("<md:EntitiesDescriptor", federation.certificate)


def _inner_signature() -> str:
    from tests.components.federation import SIGNATURE_TEMPLATE

    return SIGNATURE_TEMPLATE.format(id="member-1", key_info="<ds:X509Data><ds:X509Certificate/></ds:X509Data>")


def scoped(username: str, principal: str, affiliation: str) -> IdPUser:
    return IdPUser(username, f"{username}-password", {
        "eduPersonPrincipalName": [principal], "eduPersonAffiliation": [affiliation],
    })  # fmt: skip


SCOPED = [
    scoped("fed1", "fed1@campus.test", "student"),
    scoped("fed2", "fed2@elsewhere.test", "student"),
    scoped("staff1", "staff1@campus.test", "staff"),
]


def with_scope(descriptor: str, scope: str) -> str:
    """The IdP's descriptor declaring the scope it owns, as federations publish it (shibmd:Scope)."""
    extension = f'<shibmd:Scope xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" regexp="false">{scope}</shibmd:Scope>'
    if "<md:Extensions>" in descriptor.split("<md:IDPSSODescriptor", 1)[1]:
        head, tail = descriptor.split("<md:IDPSSODescriptor", 1)
        return head + "<md:IDPSSODescriptor" + tail.replace("<md:Extensions>", f"<md:Extensions>{extension}", 1)
    return re.sub(
        r"(<md:IDPSSODescriptor[^>]*>)", rf"\1<md:Extensions>{extension}</md:Extensions>", descriptor, count=1
    )


def test_the_discovery_service_picks_the_idp_and_an_idp_is_believed_only_about_its_own_scope(campus, hub_factory):
    with running_idp(SCOPED) as idp, running_federation() as federation:
        members = entity_descriptors(with_scope(idp.metadata(), "campus.test"), member_idp(OTHER_IDP, "Other"))
        federation.publish(signed_aggregate(members, federation.key, federation.certificate))
        campus.update(
            **{
                "sign_in.local": {"max_failed_logins": 20},
                "sign_in.saml": {
                    "fed": {
                        "idp_metadata_url": federation.url,
                        "metadata_signing_certificate": str(federation.certificate),
                        "discovery_url": federation.discovery_url,
                        "username_scopes": ["campus.test", "elsewhere.test"],
                        "allowed_groups": ["student", "staff"],
                        "admin_groups": ["staff"],
                    }
                },
            }
        )
        hub = hub_factory()
        metadata = requests.get(f"{hub.url}/hub/saml/fed/metadata", timeout=30).text
        certificate = re.search(r"X509Certificate>([^<]+)<", metadata).group(1)
        idp.trust(f"{hub.url}/hub/saml/fed/metadata", f"{hub.url}/hub/saml/fed/acs", certData=certificate)
        login = f"{hub.url}/hub/saml/fed/login?next={quote('/hub/home')}"

        to_discovery = requests.get(login, allow_redirects=False, timeout=30)
        assert to_discovery.status_code == 302 and to_discovery.headers["Location"].startswith(federation.discovery_url)
        assert f"entityID={quote(f'{hub.url}/hub/saml/fed/metadata', safe='')}" in to_discovery.headers["Location"]

        federation.chosen_idp = "https://idp.not-a-member.test/idp"
        unknown = requests.get(login, timeout=30)
        assert unknown.status_code == 400 and "does not sign in here" in unknown.text

        federation.chosen_idp = idp.entity_id
        signed_in, browsers = {}, {}
        for user in SCOPED:
            browsers[user.username] = Student(hub.url, user.username)
            action, posted = sign_in(browsers[user.username].session, login, user.username, user.password)
            answer = browsers[user.username].session.post(action, data=posted, allow_redirects=False, timeout=30)
            signed_in[user.username] = answer
        assert signed_in["fed1"].status_code == 302 and signed_in["fed1"].headers["Location"].endswith("/hub/home")
        # elsewhere.test is allowed here, but this IdP's metadata says it owns campus.test only.
        assert signed_in["fed2"].status_code == 403
        assert "may not vouch for accounts of elsewhere.test" in signed_in["fed2"].text
        # staff, but from a federation whose members all may say "staff": no admin without `idp_entity_id`.
        assert signed_in["staff1"].status_code == 302
        assert browsers["staff1"].hub_api("GET", "/user").json()["admin"] is False


VISITOR = IdPUser("visitor", "visitor-password", {"uid": ["visitor"], "eduPersonAffiliation": ["student"]})


def test_an_idp_of_the_federation_cannot_answer_a_request_sent_to_another(campus, hub_factory):
    """Both IdPs are members and both signatures verify; only the IdP the hub asked may answer its request."""
    with running_idp([STUDENT]) as campus_idp, running_idp([VISITOR]) as other_idp, running_federation() as federation:
        members = entity_descriptors(campus_idp.metadata(), other_idp.metadata())
        federation.publish(signed_aggregate(members, federation.key, federation.certificate))
        campus.update(
            **{
                "sign_in.saml": {
                    "fed": {
                        "idp_metadata_url": federation.url,
                        "metadata_signing_certificate": str(federation.certificate),
                        "allowed_groups": ["student"],
                    }
                }
            }
        )
        hub = hub_factory()
        metadata = requests.get(f"{hub.url}/hub/saml/fed/metadata", timeout=30).text
        certificate = re.search(r"X509Certificate>([^<]+)<", metadata).group(1)
        for idp in (campus_idp, other_idp):
            idp.trust(f"{hub.url}/hub/saml/fed/metadata", f"{hub.url}/hub/saml/fed/acs", certData=certificate)
        login = f"{hub.url}/hub/saml/fed/login?next={quote('/hub/home')}&idp="

        # Asked itself, the other IdP signs its own people in.
        session = requests.Session()
        action, posted = sign_in(session, login + quote(other_idp.entity_id, safe=""), "visitor", "visitor-password")
        landed = session.post(action, data=posted, allow_redirects=False, timeout=30)
        assert landed.status_code == 302 and landed.headers["Location"].endswith("/hub/home"), landed.text[-600:]

        # The request meant for the campus's IdP is carried to the other one, which answers it with its own signature.
        session = requests.Session()
        to_campus = session.get(login + quote(campus_idp.entity_id, safe=""), allow_redirects=False, timeout=30)
        assert to_campus.status_code == 302 and to_campus.headers["Location"].startswith(campus_idp.base_url)
        carried = other_idp.base_url + to_campus.headers["Location"][len(campus_idp.base_url) :]
        action, posted = sign_in(session, carried, "visitor", "visitor-password")
        assert action == f"{hub.url}/hub/saml/fed/acs" and "SAMLResponse" in posted
        refused = session.post(action, data=posted, allow_redirects=False, timeout=30)
        assert refused.status_code == 403 and "could not be verified" in refused.text, refused.text[-600:]
        assert hub.wait_for_output(f"from {other_idp.entity_id}, but the request went to {campus_idp.entity_id}")
        assert session.get(f"{hub.url}/hub/api/user", timeout=30).status_code == 403  # nobody signed in
