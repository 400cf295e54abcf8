"""What an LTI 1.3 launch says, read as CampusHub needs it: the person's username, their role, the course.

Pure functions on the verified claims (campushub.identity.lti verifies them first), so that each rule can be
tested without a hub or an LMS. The LMS presets say where each platform keeps its endpoints, so that an admin
types as few URLs as possible (docs/sign-in/lti.md lists them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from campushub.identity.usernames import campus_username, normalize_username

LTI_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DEPLOYMENT_CLAIM = LTI_CLAIM + "deployment_id"
CONTEXT_CLAIM = LTI_CLAIM + "context"
ROLES_CLAIM = LTI_CLAIM + "roles"
LIS_CLAIM = LTI_CLAIM + "lis"

Role = Literal["student", "ta", "instructor"]
ROLES: tuple[Role, ...] = ("student", "ta", "instructor")
UsernameClaim = Literal["email", "sub", "person_sourcedid", "preferred_username"]
Lms = Literal["canvas", "moodle", "blackboard", "brightspace", "other"]

_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# Context (course) roles only: institution and system roles say nothing about this course.
_TA_ROLES = {f"{_MEMBERSHIP}/Instructor#TeachingAssistant", f"{_MEMBERSHIP}#TeachingAssistant", "TeachingAssistant"}
_INSTRUCTOR_ROLES = {
    f"{_MEMBERSHIP}#Instructor",
    f"{_MEMBERSHIP}#Administrator",
    f"{_MEMBERSHIP}#ContentDeveloper",
    "Instructor",
}
_LEARNER_ROLES = {f"{_MEMBERSHIP}#Learner", "Learner"}


class LaunchRefused(ValueError):
    """The launch is genuine but cannot be let in; the message is for the person, and says what to do."""


@dataclass(frozen=True)
class LmsPreset:
    """Where an LMS keeps its LTI endpoints; `{site}` is the LMS's own address, `{client_id}` the tool's ID there."""

    issuer: str | None
    auth_login_url: str
    jwks_url: str


PRESETS: dict[str, LmsPreset] = {
    "canvas": LmsPreset(
        "https://canvas.instructure.com",
        "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "https://sso.canvaslms.com/api/lti/security/jwks",
    ),
    "moodle": LmsPreset(None, "{site}/mod/lti/auth.php", "{site}/mod/lti/certs.php"),
    "blackboard": LmsPreset(
        "https://blackboard.com",
        "https://developer.blackboard.com/api/v1/gateway/oidcauth",
        "https://developer.blackboard.com/api/v1/management/applications/{client_id}/jwks.json",
    ),
    "brightspace": LmsPreset(None, "{site}/d2l/lti/authenticate", "{site}/d2l/.well-known/jwks"),
}


def role_of(roles: Iterable[str]) -> Role | None:
    """The CampusHub course role of a launch's LIS roles; a TA sub-role wins over the Instructor role sent with it."""
    given = set(roles)
    if given & _TA_ROLES:
        return "ta"
    if given & _INSTRUCTOR_ROLES:
        return "instructor"
    if given & _LEARNER_ROLES or any(role.startswith(f"{_MEMBERSHIP}/Learner#") for role in given):
        return "student"
    return None


def username_claim_value(claims: Mapping[str, Any], claim: UsernameClaim) -> str:
    """The raw value of the configured claim; a LaunchRefused naming it when the LMS did not send it."""
    source = (claims.get(LIS_CLAIM) or {}) if claim == "person_sourcedid" else claims
    value = source.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise LaunchRefused(
            f"The LMS did not send your {claim.replace('_', ' ')}, which this hub needs as your username. "
            "Ask the LMS administrator to share it with the tool (its privacy setting)."
        )
    return value


def username_of(claims: Mapping[str, Any], claim: UsernameClaim, email_domains: list[str]) -> str:
    """The CampusHub username (raises InvalidUsername for a name outside the rule, LaunchRefused when missing)."""
    value = username_claim_value(claims, claim)
    if claim == "email":
        if email_domains:
            return campus_username(value, email_domains)
        return normalize_username(value.strip().partition("@")[0])
    return normalize_username(value)


def course_slug(text: str) -> str:
    """A course ID made from an LMS course's label (`PHYS 101` -> `phys-101`), within the course-ID rule."""
    slug = re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-_")[:28].strip("-_")
    return slug or "course"


def free_course_id(wanted: str, taken: Iterable[str]) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`...: the first ID no course (campus.yaml's or the LMS's) has."""
    used = set(taken)
    candidate, number = wanted, 1
    while candidate in used:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


def mapped_course(context: Mapping[str, Any], mapping: Mapping[str, str]) -> str | None:
    """The campus.yaml course the admin mapped this LMS context to, by its ID or its label."""
    for key in (context.get("id"), context.get("label")):
        if isinstance(key, str) and key in mapping:
            return mapping[key]
    return None
