"""LTI 1.3 launches from a stand-in LMS (tests/components/lti_platform.py) into a real hub, and bad ones refused.

The platform signs launches with its own key and serves its JWKS; the hub is registered with it the way an LMS
admin would (issuer, client ID, deployment, the platform's authentication and JWKS URLs). A browser here is a
requests session: it follows the LMS's initiation to the hub, the hub's redirect to the platform, and posts the
platform's form back, as the auto-submitting page would.
"""

from __future__ import annotations

import os
import pwd
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.components.lti_platform import (
    INSTRUCTOR,
    LEARNER,
    LTI,
    TEACHING_ASSISTANT,
    LmsCourse,
    LmsUser,
    LtiPlatform,
    running_platform,
)
from tests.helpers.hub import TEST_USER_PREFIX, RunningHub
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

STUDENT = LmsUser("lms-u1", "Lena Student", "lena@campus.test", (LEARNER,))
TA = LmsUser("lms-u2", "Tom Assistant", "tom@campus.test", (TEACHING_ASSISTANT, INSTRUCTOR))
TEACHER = LmsUser("lms-u3", "Ida Teacher", "ida@campus.test", (INSTRUCTOR,))
OBSERVER = LmsUser(
    "lms-u4", "Otto Observer", "otto@campus.test", ("http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor",)
)
OUTSIDER = LmsUser("lms-u5", "Eve Elsewhere", "eve@elsewhere.test", (LEARNER,))
NEW_COURSE = LmsCourse("ctx-data-101", "DATA 101", "Data Science 101")
MAPPED_COURSE = LmsCourse("ctx-phys", "PHYS-A", "Physics (LMS)")
UNSET_COURSE = LmsCourse("ctx-chem", "CHEM 2", "Chemistry 2")


@dataclass
class LtiCampus:
    hub: RunningHub
    platform: LtiPlatform

    def url(self, name: str, step: str) -> str:
        return f"{self.hub.url}/hub/lti/{name}/{step}"

    def initiate(self, browser: requests.Session, user: LmsUser, course: LmsCourse, name: str = "lms", **headers):
        """The LMS sends the browser to the hub's login initiation; the hub's answer (not followed)."""
        start = self.platform.initiation_url(self.url(name, "login"), user, course, self.url(name, "launch"))
        return browser.get(start, headers=headers, allow_redirects=False, timeout=30)

    def authentication_request(self, browser: requests.Session, user: LmsUser, course: LmsCourse, name: str = "lms"):
        """The hub's authentication request to the LMS, as a dict (state, nonce, redirect_uri...)."""
        answer = self.initiate(browser, user, course, name)
        assert answer.status_code == 302 and answer.headers["Location"].startswith(self.platform.auth_url), answer.text
        return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def platform_form(self, browser: requests.Session, location: str) -> tuple[str, dict[str, str]]:
        page = browser.get(location, timeout=30)
        assert page.status_code == 200, page.text
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        return action.replace("&amp;", "&"), fields

    def launch(self, browser: requests.Session, user: LmsUser, course: LmsCourse, name: str = "lms"):
        """A whole launch as the browser makes it; the hub's answer to the platform's form post."""
        answer = self.initiate(browser, user, course, name)
        assert answer.status_code == 302, answer.text
        action, fields = self.platform_form(browser, answer.headers["Location"])
        return browser.post(action, data=fields, allow_redirects=False, timeout=30)

    def forged(self, browser: requests.Session, user: LmsUser, course: LmsCourse, sign=None, **changes):
        """A launch answering a real authentication request, with its claims changed and signed by `sign`."""
        request = self.authentication_request(browser, user, course)
        claims = {**self.platform.launch_claims(user, course, request["nonce"], self.url("lms", "launch")), **changes}
        token = sign(claims) if sign else self.platform.sign(claims)
        return request, browser.post(request["redirect_uri"], data={"id_token": token, "state": request["state"]},
                                     allow_redirects=False, timeout=30)  # fmt: skip


def groups_of(browser: requests.Session, hub: RunningHub) -> set[str]:
    me = browser.get(f"{hub.url}/hub/api/user", timeout=30)
    assert me.status_code == 200, me.text
    return set(me.json()["groups"])


def refused(answer: requests.Response, status: int, said: str) -> None:
    assert answer.status_code == status and said in answer.text, (answer.status_code, answer.text[-800:])
    assert "Traceback" not in answer.text


@pytest.fixture
def lti_campus(campus, hub_factory) -> Iterator[LtiCampus]:
    with running_platform([STUDENT, TA, TEACHER, OBSERVER, OUTSIDER]) as platform:
        registration = {
            "issuer": platform.issuer,
            "client_id": platform.client_id,
            "deployment_ids": [platform.deployment_id],
            "auth_login_url": platform.auth_url,
            "jwks_url": platform.jwks_url,
            "email_domains": ["campus.test"],
            "clock_skew": 2,
        }
        campus.update(
            **{
                "sign_in.local": {"max_failed_logins": 50},
                "sign_in.link_by": "username",
                "sign_in.lti": {
                    "lms": {**registration, "create_courses": True, "courses": {MAPPED_COURSE.label: "phys101"}},
                    "strict": {**registration, "course_contact": "the e-learning office"},
                },
                "courses": {"phys101": {"title": "Physics 101"}},
            }
        )
        yield LtiCampus(hub_factory(), platform)


def test_launches_sign_people_in_with_their_course_roles_and_land_in_the_course_folder(campus, lti_campus):
    checked = campus.cli("check")
    assert f"ok   lti lms keys at {lti_campus.platform.jwks_url} (1 key)" in checked.stdout, checked.stdout

    config = requests.get(lti_campus.url("lms", "config"), timeout=30).json()
    assert config["oidc_initiation_url"] == lti_campus.url("lms", "login")
    assert config["redirect_uris"] == [lti_campus.url("lms", "launch")]

    student = requests.Session()
    landed = lti_campus.launch(student, STUDENT, NEW_COURSE)
    assert landed.status_code == 302, landed.text[-800:]
    assert landed.headers["Location"] == "/hub/user-redirect/lab/tree/courses/data-101"
    assert groups_of(student, lti_campus.hub) == {"course:data-101", "course:data-101:student"}
    account = pwd.getpwnam(f"{TEST_USER_PREFIX}lena")
    folder = os.path.join(account.pw_dir, "courses", "data-101")
    assert os.path.isdir(folder) and os.stat(folder).st_uid == account.pw_uid  # made by lena's own account

    for user, name, role in ((TA, "tom", "ta"), (TEACHER, "ida", "instructor")):
        browser = requests.Session()
        assert lti_campus.launch(browser, user, NEW_COURSE).status_code == 302
        assert groups_of(browser, lti_campus.hub) == {"course:data-101", f"course:data-101:{role}"}, name

    # The admin's mapping: the LMS course with label PHYS-A is campus.yaml's phys101.
    assert lti_campus.launch(student, STUDENT, MAPPED_COURSE).headers["Location"].endswith("/courses/phys101")
    both = {"course:data-101", "course:data-101:student", "course:phys101", "course:phys101:student"}
    assert groups_of(student, lti_campus.hub) == both

    # A later sign-in by another method (link_by: username) keeps what the LMS said.
    campus.add_user("lena", "lena-password-1")
    again = Student(lti_campus.hub.url, "lena")
    assert again.sign_in("lena-password-1").status_code == 200
    assert set(again.hub_api("GET", "/user").json()["groups"]) == both


def test_bad_launches_are_refused_with_a_page_and_framed_ones_complete_in_a_new_window(lti_campus):
    platform = lti_campus.platform
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, forged = lti_campus.forged(requests.Session(), STUDENT, NEW_COURSE, sign=lambda c: platform.sign(c, other_key))
    refused(forged, 403, "could not be verified")

    _, wrong = lti_campus.forged(requests.Session(), STUDENT, NEW_COURSE, **{f"{LTI}deployment_id": "deployment-x"})
    refused(wrong, 403, "does not know")

    past = int(time.time()) - 100
    _, expired = lti_campus.forged(requests.Session(), STUDENT, NEW_COURSE, iat=past - 300, exp=past)
    refused(expired, 403, "has expired")

    # The same launch posted twice, and a later login answered with the first launch's nonce.
    browser = requests.Session()
    request, first = lti_campus.forged(browser, STUDENT, NEW_COURSE)
    assert first.status_code == 302, first.text[-800:]
    token = platform.sign(
        platform.launch_claims(STUDENT, NEW_COURSE, request["nonce"], lti_campus.url("lms", "launch"))
    )
    replayed = browser.post(request["redirect_uri"], data={"id_token": token, "state": request["state"]},
                            cookies={}, allow_redirects=False, timeout=30)  # fmt: skip
    refused(replayed, 403, "already used")
    _, old_nonce = lti_campus.forged(requests.Session(), STUDENT, NEW_COURSE, nonce=request["nonce"])
    refused(old_nonce, 403, "already used")

    # People the platform config does not let in: a role without course rights, an address from elsewhere.
    refused(lti_campus.launch(requests.Session(), OBSERVER, NEW_COURSE), 403, "Your role in this course")
    refused(lti_campus.launch(requests.Session(), OUTSIDER, NEW_COURSE), 403, "cannot be used on this hub")

    # A course nobody set up, on a platform that may not create courses: whom to ask.
    unknown = lti_campus.launch(requests.Session(), STUDENT, UNSET_COURSE, name="strict")
    refused(unknown, 403, "CHEM 2 is not set up on CampusHub yet. Ask the e-learning office")

    framed_launches_complete_in_a_new_window(lti_campus)


def framed_launches_complete_in_a_new_window(lti_campus: LtiCampus) -> None:
    """Part of the test above, which its hub serves as well (one hub start less)."""
    # The browser says the login is in a frame: no cookies can be set there, so a page with a button.
    framed = lti_campus.initiate(requests.Session(), STUDENT, NEW_COURSE, **{"Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 200 and "frame-ancestors *" in framed.headers["Content-Security-Policy"]
    link = re.search(r'id="open-new-window" href="([^"]+)" target="_blank"', framed.text).group(1)

    window = requests.Session()  # the new top-level window
    answer = window.get(urljoin(lti_campus.hub.url, link.replace("&amp;", "&")), allow_redirects=False, timeout=30)
    action, fields = lti_campus.platform_form(window, answer.headers["Location"])
    landed = window.post(action, data=fields, allow_redirects=False, timeout=30)
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/courses/data-101"), landed.text[-800:]

    # A frame that dropped the state cookie on the way back: the launch is not taken, the same page is offered.
    frame = requests.Session()
    first = lti_campus.initiate(frame, TEACHER, NEW_COURSE)
    action, fields = lti_campus.platform_form(frame, first.headers["Location"])
    without_cookies = requests.post(action, data=fields, allow_redirects=False, timeout=30)
    assert without_cookies.status_code == 200 and 'id="open-new-window"' in without_cookies.text
    assert "jupyterhub-session-id" not in without_cookies.cookies and "/hub/lti/lms/login?" in without_cookies.text
