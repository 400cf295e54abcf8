"""Signing in through a real SAML IdP (simplesamlphp) to a real hub, and every kind of bad response refused.

The hub serves its SP metadata at /hub/saml/<name>/metadata; the IdP is told to trust it from that document,
as a federation admin would register it. People sign in on the IdP's form; the IdP posts the signed response
to the hub's assertion consumer, the one POST exempt from the hub's XSRF check.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests

from tests.components.saml_idp import IdPUser
from tests.helpers.hubclient import Student
from tests.helpers.saml import SamlCampus, saml_campus_with

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


@pytest.fixture
def saml_campus(campus, hub_factory, tmp_path) -> Iterator[SamlCampus]:
    with saml_campus_with([STUDENT, LECTURER, GUEST, VISITOR], campus, hub_factory, tmp_path) as saml:
        yield saml


def test_people_sign_in_through_the_idp_with_their_groups_and_land_where_they_were_going(campus, saml_campus):
    checked = campus.cli("check")
    assert f"ok   saml campus metadata ({saml_campus.idp.entity_id})" in checked.stdout, checked.stdout
    assert "ok   saml campus signatures (xmlsec1)" in checked.stdout

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


def signs_out_at_the_idp_too(saml_campus: SamlCampus, student: Student) -> None:
    """The hub's logout -> the method's -> the IdP's logout service -> back -> the sign-in page."""
    hops, url = [], f"{saml_campus.hub.url}/hub/logout"
    for _ in range(6):
        answer = student.session.get(url, allow_redirects=False, timeout=30)
        hops.append(answer.url.split("?")[0])
        if answer.status_code not in (301, 302, 303):
            break
        url = requests.compat.urljoin(answer.url, answer.headers["Location"])
    idp_logout = f"{saml_campus.idp.base_url}saml2/idp/SingleLogoutService.php"
    assert idp_logout in hops, hops  # a signed LogoutRequest went to the IdP
    assert hops[-1] == f"{saml_campus.hub.url}/hub/login" and answer.status_code == 200, hops
    assert saml_campus.hub.wait_for_output("the IdP ended its session too (True)")


def test_signing_out_ends_the_hub_session_and_the_idps_so_the_next_sign_in_asks_for_the_password(saml_campus):
    student, action, posted = saml_campus.posted_response(STUDENT)
    student.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert student.hub_api("GET", "/user").status_code == 200

    signs_out_at_the_idp_too(saml_campus, student)
    assert student.hub_api("GET", "/user").status_code == 403

    # The IdP asks for the password again: its session ended too.
    again = student.session.get(saml_campus.login_url(), timeout=30)
    assert 'name="password"' in again.text, again.text[-600:]


def test_a_hub_restart_loses_neither_a_sign_in_under_way_nor_the_logout_at_the_idp(campus, saml_campus):
    student, action, posted = saml_campus.posted_response(STUDENT)  # at the IdP's form when the hub restarts
    assert campus.cli("reload").returncode == 0
    landed = student.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/hub/home"), landed.text[-800:]
    again = requests.post(action, data=posted, allow_redirects=False, timeout=30)
    assert again.status_code == 403 and "could not be verified" in again.text  # answered once, restart or not

    assert campus.cli("reload").returncode == 0
    assert student.hub_api("GET", "/user").status_code == 200
    signs_out_at_the_idp_too(saml_campus, student)
    assert student.hub_api("GET", "/user").status_code == 403
    assert 'name="password"' in student.session.get(saml_campus.login_url(), timeout=30).text


def test_signing_out_at_the_idp_ends_that_browsers_hub_session_and_no_other(saml_campus):
    saml_campus.trust(**{"redirect.sign": True})  # as Shibboleth does; simplesamlphp signs logout only when told
    student, action, posted = saml_campus.posted_response(STUDENT)
    student.session.post(action, data=posted, allow_redirects=False, timeout=30)
    lecturer, action, posted = saml_campus.posted_response(LECTURER)
    lecturer.session.post(action, data=posted, allow_redirects=False, timeout=30)
    assert student.hub_api("GET", "/user").status_code == 200 == lecturer.hub_api("GET", "/user").status_code

    # The student signs out of campus SSO at the IdP; the IdP sends its LogoutRequest through the browser.
    slo = f"{saml_campus.hub.url}/hub/saml/campus/logout"
    returned = f"{saml_campus.idp.base_url}saml2/idp/metadata.php"  # anywhere the IdP may send them on to
    url = f"{saml_campus.idp.base_url}saml2/idp/SingleLogoutService.php?ReturnTo={quote(returned, safe='')}"
    hops, forged_tried = [], False
    for _ in range(8):
        if url.startswith(slo + "?SAMLRequest=") and not forged_tried:
            forged_tried = True
            query = dict(parse_qsl(urlsplit(url).query))
            unsigned = {key: value for key, value in query.items() if key not in ("Signature", "SigAlg")}
            forged = student.session.get(slo, params=unsigned, allow_redirects=False, timeout=30)
            assert forged.status_code == 400 and "could not be verified" in forged.text, forged.text[-400:]
            assert student.hub_api("GET", "/user").status_code == 200, "an unsigned request signs nobody out"
        answer = student.session.get(url, allow_redirects=False, timeout=30)
        hops.append(answer.url.split("?")[0])
        if answer.status_code not in (301, 302, 303):
            break
        url = requests.compat.urljoin(answer.url, answer.headers["Location"])
    assert forged_tried and slo in hops, (hops, answer.status_code, answer.text[-600:])
    # The IdP had its answer and finished its logout.
    assert hops[-1] == returned, (hops, answer.status_code, answer.text[-600:])
    assert saml_campus.hub.wait_for_output("stu1 signed out at the IdP, and so of the hub")
    assert student.hub_api("GET", "/user").status_code == 403
    assert lecturer.hub_api("GET", "/user").status_code == 200
