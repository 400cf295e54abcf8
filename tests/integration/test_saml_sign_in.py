"""Signing in through a real SAML IdP (simplesamlphp) to a real hub, and every kind of bad response refused.

The hub serves its SP metadata at /hub/saml/<name>/metadata; the IdP is told to trust it from that document,
as a federation admin would register it. People sign in on the IdP's form; the IdP posts the signed response
to the hub's assertion consumer, the one POST exempt from the hub's XSRF check.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.components.saml_idp import IdPUser, SAMLIdP, running_idp, sign_in
from tests.helpers.hub import RunningHub
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

STUDENT = IdPUser("stu1", "stu1-password", {
    "uid": ["stu1"], "eduPersonPrincipalName": ["stu1@campus.test"],
    "eduPersonAffiliation": ["student", "member"], "displayName": ["Stu One"],
})  # fmt: skip
LECTURER = IdPUser("prof1", "prof1-password", {
    "uid": ["prof1"], "eduPersonPrincipalName": ["prof1@campus.test"], "eduPersonAffiliation": ["staff", "member"],
})  # fmt: skip
GUEST = IdPUser("guest1", "guest1-password", {"uid": ["guest1"], "eduPersonAffiliation": ["affiliate"]})
VISITOR = IdPUser("vis1", "vis1-password", {
    "eduPersonPrincipalName": ["vis1@elsewhere.test"], "eduPersonAffiliation": ["student"],
})  # fmt: skip


@dataclass
class SamlCampus:
    hub: RunningHub
    idp: SAMLIdP
    entity_id: str
    acs_url: str
    certificate: str

    def trust(self, **options: object) -> None:
        self.idp.trust(self.entity_id, self.acs_url, certData=self.certificate, **options)

    def login_url(self, next_url: str = "/hub/home") -> str:
        return f"{self.hub.url}/hub/saml/campus/login?next={requests.utils.quote(next_url)}"

    def posted_response(self, user: IdPUser) -> tuple[Student, str, dict[str, str]]:
        """Sign in at the IdP: (the browser, where the IdP posts, what it posts); nothing sent to the hub yet."""
        student = Student(self.hub.url, user.username)
        action, fields = sign_in(student.session, self.login_url(), user.username, user.password)
        return student, action, fields


@pytest.fixture
def saml_campus(campus, hub_factory, tmp_path) -> Iterator[SamlCampus]:
    with running_idp([STUDENT, LECTURER, GUEST, VISITOR]) as idp:
        (tmp_path / "idp.xml").write_text(idp.metadata())
        campus.update(
            **{
                # Refused responses count as failed sign-ins (429 after too many): the refusal test makes seven.
                "sign_in.local": {"max_failed_logins": 20},
                "sign_in.saml": {
                    "campus": {
                        "idp_metadata_file": str(tmp_path / "idp.xml"),
                        "username_scopes": ["campus.test"],
                        "allowed_groups": ["student", "staff"],
                        "admin_groups": ["staff"],
                        "clock_skew": 2,
                    }
                },
            }
        )
        hub = hub_factory()
        metadata = requests.get(f"{hub.url}/hub/saml/campus/metadata", timeout=30)
        assert metadata.status_code == 200, metadata.text
        entity_id = re.search(r'entityID="([^"]+)"', metadata.text).group(1)
        acs_url = re.search(r'AssertionConsumerService[^>]*Location="([^"]+)"', metadata.text).group(1)
        certificate = re.search(r"X509Certificate>([^<]+)<", metadata.text).group(1)
        assert entity_id == f"{hub.url}/hub/saml/campus/metadata" and acs_url == f"{hub.url}/hub/saml/campus/acs"
        saml = SamlCampus(hub, idp, entity_id, acs_url, certificate)
        saml.trust()
        yield saml


def test_people_sign_in_through_the_idp_with_their_groups_and_land_where_they_were_going(campus, saml_campus):
    checked = campus.cli("check")
    assert f"ok   saml campus metadata ({saml_campus.idp.entity_id})" in checked.stdout, checked.stdout

    page = requests.get(f"{saml_campus.hub.url}/hub/login", timeout=30)
    assert "Campus single sign-on (SAML)" in page.text and "/hub/saml/campus/login" in page.text

    student, action, posted = saml_campus.posted_response(STUDENT)
    assert action == saml_campus.acs_url
    landed = student.session.post(action, data=posted, allow_redirects=False, timeout=30)  # no _xsrf: the IdP posts
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/hub/home"), landed.text[-800:]
    me = student.hub_api("GET", "/user").json()
    assert me["name"] == "stu1" and not me["admin"]  # the scope of stu1@campus.test stripped
    assert {"student", "member"} <= set(me["groups"])

    lecturer, action, posted = saml_campus.posted_response(LECTURER)
    lecturer.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert lecturer.hub_api("GET", "/user").json()["admin"] is True  # staff are admin_groups


def test_responses_that_must_not_sign_anyone_in_are_refused_with_a_page(saml_campus):
    # Posted twice: the request it answered has been used.
    student, action, posted = saml_campus.posted_response(STUDENT)
    assert student.session.post(action, data=posted, allow_redirects=False, timeout=30).status_code == 302
    replayed = requests.post(action, data=posted, allow_redirects=False, timeout=30)
    assert replayed.status_code == 403 and "could not be verified" in replayed.text

    # Changed on the way: another person's name in the signed assertion.
    student, action, posted = saml_campus.posted_response(STUDENT)
    forged = base64.b64encode(base64.b64decode(posted["SAMLResponse"]).replace(b">stu1<", b">prof1<")).decode()
    refused = student.session.post(action, data={**posted, "SAMLResponse": forged}, allow_redirects=False, timeout=30)
    assert refused.status_code == 403 and "could not be verified" in refused.text

    # Not in an allowed group, or from a scope that is not the campus's.
    for user, said in ((GUEST, "may not use this hub"), (VISITOR, "accounts of elsewhere.test cannot sign in")):
        browser, action, posted = saml_campus.posted_response(user)
        answer = browser.session.post(action, data=posted, allow_redirects=False, timeout=30)
        assert answer.status_code == 403 and said in answer.text, (user.username, answer.text[-600:])

    # An IdP that stops signing its assertions.
    saml_campus.trust(**{"saml20.sign.assertion": False})
    student, action, posted = saml_campus.posted_response(STUDENT)
    unsigned = student.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert unsigned.status_code == 403 and "could not be verified" in unsigned.text

    # An assertion past its NotOnOrAfter (the IdP makes it valid for one second; the hub allows 2 s of skew).
    saml_campus.trust(**{"assertion.lifetime": 1})
    student, action, posted = saml_campus.posted_response(STUDENT)
    time.sleep(4)
    expired = student.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert expired.status_code == 403 and "could not be verified" in expired.text

    # Meant for another service provider (IdP-initiated, with our ACS): wrong audience, and asked by nobody here.
    saml_campus.idp.trust("https://other-sp.example/", saml_campus.acs_url, certData=saml_campus.certificate)
    browser = requests.Session()
    page = browser.get(f"{saml_campus.idp.base_url}saml2/idp/SSOService.php?spentityid=https://other-sp.example/",
                       timeout=30)  # fmt: skip
    from tests.components.saml_idp import form_fields

    action, fields = form_fields(page.text)
    answer = browser.post(requests.compat.urljoin(page.url, action),
                          data={**fields, "username": "stu1", "password": "stu1-password"}, timeout=30)  # fmt: skip
    action, posted = form_fields(answer.text)
    wrong = browser.post(action, data=posted, allow_redirects=False, timeout=30)
    assert wrong.status_code == 403 and "could not be verified" in wrong.text
