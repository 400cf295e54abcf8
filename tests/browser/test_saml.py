"""Campus single sign-on in a real browser: the button on the sign-in page, the IdP's own form, back signed in.

Chromium runs the IdP's page script that posts the signed response to the hub (no test code in between),
with the cookies a browser really keeps: the hub's, the IdP's session, and SameSite rules on the POST.
Signing out through the hub's own logout link ends the IdP's session too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.components.saml_idp import IdPUser
from tests.helpers.saml import SamlCampus, saml_campus_with

pytestmark = pytest.mark.browser

STUDENT = IdPUser("bstu", "bstu-password", {
    "uid": ["bstu"], "eduPersonPrincipalName": ["bstu@campus.test"], "eduPersonAffiliation": ["student"],
})  # fmt: skip


@pytest.fixture
def saml_campus(campus, hub_factory, tmp_path) -> Iterator[SamlCampus]:
    with saml_campus_with([STUDENT], campus, hub_factory, tmp_path) as saml:
        yield saml


def test_a_student_signs_in_with_campus_sso_from_the_sign_in_page_and_signs_out_of_both(saml_campus, context):
    page = context.new_page()
    page.goto(f"{saml_campus.hub.url}/hub/login?next=/hub/token")
    page.get_by_text("Campus single sign-on (SAML)").click()

    page.wait_for_url(f"{saml_campus.idp.base_url}**")
    page.locator("input[name=username]").fill(STUDENT.username)
    page.locator("input[name=password]").fill(STUDENT.password)
    page.locator("input[name=password]").press("Enter")

    page.wait_for_url(f"{saml_campus.hub.url}/hub/token")  # where the student was going, through the ACS
    cookies = {cookie["name"] for cookie in context.cookies(f"{saml_campus.hub.url}/hub/")}
    assert "jupyterhub-hub-login" in cookies, cookies
    page.goto(f"{saml_campus.hub.url}/hub/home")
    assert "bstu" in page.locator("body").inner_text()

    page.goto(f"{saml_campus.hub.url}/hub/logout")
    page.wait_for_url(f"{saml_campus.hub.url}/hub/login**")
    page.get_by_text("Campus single sign-on (SAML)").click()
    page.wait_for_url(f"{saml_campus.idp.base_url}**")
    assert page.locator("input[name=password]").is_visible(), "the IdP's session ended with the hub's"
