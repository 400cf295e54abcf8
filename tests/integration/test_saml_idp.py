"""CampusHub's SAML service provider settings against a real IdP (simplesamlphp), before any hub is involved.

pysaml2 with `campushub.identity.saml_sp.sp_config` signs its AuthnRequest, the IdP signs people in on its own
form and signs the assertion, and pysaml2 verifies it with xmlsec1: the attributes map to a username and
groups; the same response posted again, or one whose assertion was changed, is refused.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from campushub.identity.saml_sp import SPEndpoints, groups_from, sp_config, username_from
from tests.components.saml_idp import IdPUser, make_key_pair, running_idp, sign_in

pytestmark = pytest.mark.integration

STUDENT = IdPUser(
    "stu1",
    "stu1-password",
    {
        "uid": ["stu1"],
        "eduPersonPrincipalName": ["stu1@campus.test"],
        "eduPersonAffiliation": ["student", "member"],
        "displayName": ["Stu One"],
    },
)
ENDPOINTS = SPEndpoints(
    "http://127.0.0.1:9/hub/saml/campus/metadata",
    "http://127.0.0.1:9/hub/saml/campus/acs",
    "http://127.0.0.1:9/hub/saml/campus/logout",
)


def certificate_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


def test_a_signed_assertion_names_the_person_and_their_groups_and_is_accepted_once(tmp_path: Path) -> None:
    sp_certificate = make_key_pair(tmp_path, "sp")
    with running_idp([STUDENT]) as idp:
        (tmp_path / "idp.xml").write_text(idp.metadata())
        config = SPConfig()
        config.load(sp_config(ENDPOINTS, tmp_path / "sp.key", tmp_path / "sp.crt", [tmp_path / "idp.xml"]))
        client = Saml2Client(config)
        idp.trust(ENDPOINTS.entity_id, ENDPOINTS.acs_url, **{"certData": certificate_body(sp_certificate)})
        request_id, request = client.prepare_for_authenticate(relay_state="/hub/home", binding=BINDING_HTTP_REDIRECT)

        action, posted = sign_in(requests.Session(), dict(request["headers"])["Location"], "stu1", "stu1-password")
        assert action == ENDPOINTS.acs_url and posted["RelayState"] == "/hub/home"
        response = client.parse_authn_request_response(
            posted["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/hub/home"}
        )
        attributes = response.get_identity()
        assert username_from(attributes, ("eduPersonPrincipalName", "uid"), ["campus.test"]) == "stu1"
        assert groups_from(attributes, ("eduPersonAffiliation", "isMemberOf")) == ["student", "member"]

        # Posted again: no request of ours waits for it any more.
        with pytest.raises(Exception, match="Unsolicited"):
            client.parse_authn_request_response(posted["SAMLResponse"], BINDING_HTTP_POST, outstanding={})

        # Changed on the way (another uid): the signature no longer holds.
        xml = base64.b64decode(posted["SAMLResponse"]).replace(b">stu1<", b">prof1<")
        forged = base64.b64encode(xml).decode()
        second_id, _request = client.prepare_for_authenticate(binding=BINDING_HTTP_REDIRECT)
        with pytest.raises(Exception, match=r"(?i)signature"):
            client.parse_authn_request_response(
                forged, BINDING_HTTP_POST, outstanding={request_id: "/", second_id: "/"}
            )
