"""The SAML service provider's pure parts: who an assertion names, and what `check` says of IdP metadata."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.identity.saml_sp import (
    AssertionRefused,
    SPEndpoints,
    groups_from,
    idp_scopes,
    metadata_summary,
    sp_config,
    username_from,
)

NAMES = ("eduPersonPrincipalName", "uid")


def test_the_username_is_the_first_attribute_sent_with_an_allowed_scope_stripped() -> None:
    assert username_from({"eduPersonPrincipalName": ["alice@uni.edu"], "uid": ["a1"]}, NAMES, ["uni.edu"]) == "alice"
    assert username_from({"uid": ["a1"]}, NAMES, ["uni.edu"]) == "a1"
    assert username_from({"eduPersonPrincipalName": ["alice@uni.edu"]}, NAMES, []) == "alice@uni.edu"
    assert username_from({"eduPersonPrincipalName": ["alice@UNI.edu"]}, NAMES, ["uni.EDU"]) == "alice"


def test_another_scope_or_no_name_at_all_is_refused_with_the_reason() -> None:
    with pytest.raises(AssertionRefused, match=r"accounts of other\.edu cannot sign in here"):
        username_from({"eduPersonPrincipalName": ["alice@other.edu"]}, NAMES, ["uni.edu"])
    with pytest.raises(AssertionRefused, match="sent none of eduPersonPrincipalName, uid"):
        username_from({"mail": ["alice@uni.edu"]}, NAMES, [])


def test_groups_are_every_value_of_the_group_attributes_once() -> None:
    attributes = {"eduPersonAffiliation": ["student", "member"], "isMemberOf": ["phys101", "member"]}
    assert groups_from(attributes, ("eduPersonAffiliation", "isMemberOf")) == ["student", "member", "phys101"]
    assert groups_from({}, ("eduPersonAffiliation",)) == []


def test_assertions_must_be_signed_unless_the_admin_says_the_response_is_enough() -> None:
    endpoints = SPEndpoints("https://hub/m", "https://hub/acs", "https://hub/logout")
    strict = sp_config(endpoints, Path("k"), Path("c"), [])["service"]["sp"]
    assert strict["want_assertions_signed"] and not strict["allow_unsolicited"] and strict["authn_requests_signed"]
    lenient = sp_config(endpoints, Path("k"), Path("c"), [], signed_response_only=True)["service"]["sp"]
    assert lenient["want_response_signed"] and not lenient["want_assertions_signed"]


def certificate(days: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = datetime.datetime.now(datetime.UTC)
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return base64.b64encode(built.public_bytes(serialization.Encoding.DER)).decode()


def idp(entity_id: str, days: int) -> str:
    return (
        f'<md:EntityDescriptor entityID="{entity_id}"><md:IDPSSODescriptor><md:KeyDescriptor use="signing">'
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate(days)}</ds:X509Certificate></ds:X509Data>"
        "</ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"
    )


NAMESPACES = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'


def test_check_names_a_federations_idps_and_the_certificates_about_to_expire() -> None:
    federation = (
        f"<md:EntitiesDescriptor {NAMESPACES}>{idp('https://a.edu/idp', 400)}{idp('https://b.edu/idp', 10)}"
        f"{idp('https://c.edu/idp', -3)}</md:EntitiesDescriptor>"
    )
    idps, problems = metadata_summary(federation)
    assert idps == ["https://a.edu/idp", "https://b.edu/idp", "https://c.edu/idp"]
    assert len(problems) == 2
    assert problems[0].startswith("https://b.edu/idp: its certificate expires on")
    assert problems[1].startswith("https://c.edu/idp: its certificate expired on")
    single = idp("https://a.edu/idp", 400).replace("<md:EntityDescriptor ", f"<md:EntityDescriptor {NAMESPACES} ")
    assert metadata_summary(single) == (["https://a.edu/idp"], [])
    assert metadata_summary("<not xml")[1][0].startswith("not XML")
    assert metadata_summary(f"<md:EntitiesDescriptor {NAMESPACES}/>")[1] == [
        "no identity provider (IDPSSODescriptor) in it"
    ]


def test_campus_yaml_must_say_where_the_metadata_is_and_who_may_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "campus.yaml"
    with pytest.raises(UserError, match="exactly one of `idp_metadata_file` and `idp_metadata_url`"):
        parse_config("admins: [ada]\nsign_in:\n  saml:\n    campus:\n      allow_all: true\n", path)
    with pytest.raises(UserError, match=r"`allowed_groups`.*or `allow_all: true`"):
        parse_config("admins: [ada]\nsign_in:\n  saml:\n    campus:\n      idp_metadata_file: /m.xml\n", path)
    text = "admins: [ada]\nsign_in:\n  saml:\n    campus:\n      idp_metadata_file: /m.xml\n"
    config = parse_config(text + "      allowed_groups: [student]\n", path)
    assert config.sign_in.saml["campus"].username_attributes == list(NAMES)


def test_federation_metadata_over_plain_http_needs_the_federations_certificate(tmp_path: Path) -> None:
    path = tmp_path / "campus.yaml"
    text = "admins: [ada]\nsign_in:\n  saml:\n    fed:\n      allowed_groups: [student]\n"
    with pytest.raises(UserError, match=r"plain http.*`metadata_signing_certificate`, or an https"):
        parse_config(text + "      idp_metadata_url: http://mds.example/fed.xml\n", path)
    signed = parse_config(
        text + "      idp_metadata_url: http://mds.example/fed.xml\n      metadata_signing_certificate: /f.pem\n", path
    )
    assert str(signed.sign_in.saml["fed"].metadata_signing_certificate) == "/f.pem"
    assert parse_config(text + "      idp_metadata_url: https://idp.example/md.xml\n", path)


def test_metadata_that_cannot_be_used_is_a_503_that_says_so_not_a_500(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tornado import web

    from campushub.identity.saml import METADATA_TROUBLE, CampusSAMLAuthenticator

    (tmp_path / "idp.xml").write_text("<not metadata")
    authenticator = CampusSAMLAuthenticator(
        method_id="campus", idp_metadata_file=str(tmp_path / "idp.xml"), key_dir=str(tmp_path)
    )
    request = SimpleNamespace(protocol="https", host="hub.example.edu")
    handler = SimpleNamespace(request=request, hub=SimpleNamespace(base_url="/hub/"))
    with pytest.raises(web.HTTPError) as refused:
        authenticator.client(handler)
    assert refused.value.status_code == 503 and refused.value.log_message == METADATA_TROUBLE
    assert (tmp_path / "saml-campus.key").stat().st_mode & 0o777 == 0o600, "the SP key is private"


def test_a_federation_offers_its_idps_by_name_unless_campus_yaml_names_one(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from campushub.identity.saml import CampusSAMLAuthenticator, chooser_page

    def usable(entity_id: str) -> str:
        """An IdP entity as pysaml2 requires it: protocol support and a single sign-on endpoint."""
        return (
            idp(entity_id, 400)
            .replace(
                "<md:IDPSSODescriptor>",
                '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">',
            )
            .replace(
                "</md:IDPSSODescriptor>",
                '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
                f'Location="{entity_id}/sso"/></md:IDPSSODescriptor>',
            )
        )

    federation = (
        f"<md:EntitiesDescriptor {NAMESPACES}>{usable('https://a.edu/idp')}{usable('https://b.edu/idp')}"
        "</md:EntitiesDescriptor>"
    )
    (tmp_path / "federation.xml").write_text(federation)
    handler = SimpleNamespace(
        request=SimpleNamespace(protocol="https", host="hub.example.edu"), hub=SimpleNamespace(base_url="/hub/")
    )
    settings = {"method_id": "fed", "idp_metadata_file": str(tmp_path / "federation.xml"), "key_dir": str(tmp_path)}
    both = CampusSAMLAuthenticator(**settings).identity_providers(handler)
    assert sorted(both) == ["https://a.edu/idp", "https://b.edu/idp"]
    one = CampusSAMLAuthenticator(**settings, idp_entity_id="https://b.edu/idp").identity_providers(handler)
    assert list(one) == ["https://b.edu/idp"]

    page = chooser_page(
        {"https://a.edu/idp": "A <University>", "https://b.edu/idp": "B"}, "/hub/saml/fed/login?next=%2Fx"
    )
    assert "A &lt;University&gt;" in page and "<University>" not in page
    assert 'href="/hub/saml/fed/login?next=%2Fx&amp;idp=https%3A%2F%2Fa.edu%2Fidp"' in page


def test_an_idp_is_believed_only_about_the_scopes_its_metadata_declares() -> None:
    shibmd = 'xmlns:shibmd="urn:mace:shibboleth:metadata:1.0"'
    federation = (
        f"<md:EntitiesDescriptor {NAMESPACES} {shibmd}>"
        '<md:EntityDescriptor entityID="https://a.edu/idp"><md:IDPSSODescriptor><md:Extensions>'
        '<shibmd:Scope regexp="false">A.edu</shibmd:Scope><shibmd:Scope regexp="true">^.*\\.a\\.edu$</shibmd:Scope>'
        "</md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>"
        '<md:EntityDescriptor entityID="https://b.edu/idp"><md:IDPSSODescriptor/></md:EntityDescriptor>'
        '<md:EntityDescriptor entityID="https://sp.edu/sp"><md:Extensions><shibmd:Scope>sp.edu</shibmd:Scope>'
        "</md:Extensions><md:SPSSODescriptor/></md:EntityDescriptor></md:EntitiesDescriptor>"
    )
    assert idp_scopes(federation) == {"https://a.edu/idp": {"a.edu"}}  # patterns and non-IdPs left out

    eppn = {"eduPersonPrincipalName": ["alice@a.edu"]}
    assert username_from(eppn, ("eduPersonPrincipalName",), ["a.edu"], {"a.edu"}) == "alice"
    assert username_from(eppn, ("eduPersonPrincipalName",), ["a.edu"], None) == "alice"  # the campus's only IdP
    with pytest.raises(AssertionRefused, match=r"may not vouch for accounts of a\.edu"):
        username_from(eppn, ("eduPersonPrincipalName",), ["a.edu"], set())  # a federation member without scopes
    with pytest.raises(AssertionRefused, match=r"may not vouch for accounts of a\.edu"):
        username_from(eppn, ("eduPersonPrincipalName",), [], {"b.edu"})


def test_without_xmlsec1_check_says_so_and_sign_in_is_a_503_that_names_no_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from tornado import web

    from campushub.identity.saml import SIGNER_MISSING, CampusSAMLAuthenticator

    single = idp("https://a.edu/idp", 400).replace("<md:EntityDescriptor ", f"<md:EntityDescriptor {NAMESPACES} ")
    (tmp_path / "idp.xml").write_text(single)
    text = f"admins: [ada]\nsign_in:\n  saml:\n    campus:\n      idp_metadata_file: {tmp_path / 'idp.xml'}\n"
    config = parse_config(text + "      allowed_groups: [student]\n", tmp_path / "campus.yaml")
    (method,) = [method for method in config.sign_in.instances() if method.name == "campus"]
    assert method.probes()[0] == ("saml campus signatures (xmlsec1)", None)

    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # a machine without Debian's xmlsec1
    signer, metadata = method.probes()
    assert signer[1] == "xmlsec1 is not installed, so nobody can sign in: apt-get install xmlsec1"
    assert metadata == ("saml campus metadata (https://a.edu/idp)", None)
    authenticator = CampusSAMLAuthenticator(
        method_id="campus", idp_metadata_file=str(tmp_path / "idp.xml"), key_dir=str(tmp_path)
    )
    handler = SimpleNamespace(
        request=SimpleNamespace(protocol="https", host="hub.example.edu"), hub=SimpleNamespace(base_url="/hub/")
    )
    with pytest.raises(web.HTTPError) as refused:
        authenticator.client(handler)
    assert refused.value.status_code == 503 and refused.value.log_message == SIGNER_MISSING


def test_a_logout_request_names_a_session_only_with_its_idp_and_nameid() -> None:
    from saml2.ident import code
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID

    from campushub.identity.saml import names_session

    def name_id(text: str, name_format: str = NAMEID_FORMAT_TRANSIENT) -> NameID:
        return NameID(text=text, format=name_format)

    session = (code(name_id("_a1b2")), "https://idp.campus.test/idp", "_s1")
    assert names_session(session, "https://idp.campus.test/idp", name_id("_a1b2"))
    assert not names_session(session, "https://idp.elsewhere.test/idp", name_id("_a1b2")), "another IdP"
    assert not names_session(session, "https://idp.campus.test/idp", name_id("_c3d4")), "another person"
    assert not names_session(session, "https://idp.campus.test/idp", name_id("_a1b2", NAMEID_FORMAT_PERSISTENT))
    assert not names_session(session, "https://idp.campus.test/idp", None)
