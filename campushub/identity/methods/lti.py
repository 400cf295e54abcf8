"""LTI 1.3 launches from an LMS (Canvas, Moodle, Blackboard, Brightspace), one platform under each name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from campushub.config.sections import Section
from campushub.identity.lti_claims import PRESETS, ROLES, Lms, Role, UsernameClaim
from campushub.identity.lti_folder import COURSE_ID
from campushub.identity.methods.base import Probe, SignInMethod

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

LTI_CLASS = "campushub.identity.lti.CampusLTIAuthenticator"
URL_PATTERN = r"^https?://\S+$"


class LtiSignIn(Section):
    """One LMS (an LTI 1.3 platform) whose courses launch CampusHub. People come from the LMS, never from the
    sign-in page: a launch signs them in and opens their course folder."""

    lms: Lms = Field(
        "other",
        description="Which LMS it is: `canvas`, `moodle`, `blackboard` or `brightspace` fill in the URLs below "
        "(docs/sign-in/lti.md); `other`: give `issuer`, `auth_login_url` and `jwks_url`.",
    )
    site: str | None = Field(
        None,
        description="The LMS's own address (https://moodle.example.edu), for `moodle` and `brightspace`: their "
        "`issuer` and URLs are made from it.",
        pattern=URL_PATTERN,
    )
    issuer: str | None = Field(
        None,
        description="The platform's issuer (`iss`) exactly as the LMS shows it. Empty: the LMS's usual one "
        "(Canvas: https://canvas.instructure.com; Blackboard: https://blackboard.com; Moodle, Brightspace: `site`).",
        pattern=URL_PATTERN,
    )
    client_id: str = Field(
        min_length=1,
        description="The tool's client ID the LMS gave CampusHub when it was registered (Canvas: the developer "
        "key's number; Blackboard: the application ID).",
    )
    deployment_ids: list[str] = Field(
        min_length=1,
        description="The deployment IDs of the tool in the LMS that may launch it; a launch from any other "
        "deployment is refused.",
    )
    auth_login_url: str | None = Field(
        None,
        description="The platform's OIDC authentication request URL. Empty: the `lms`'s.",
        pattern=URL_PATTERN,
    )
    jwks_url: str | None = Field(
        None, description="The platform's public keys (JWKS). Empty: the `lms`'s.", pattern=URL_PATTERN
    )
    username_claim: UsernameClaim = Field(
        "email",
        description="Where the username comes from: `email` (the address's local part), `sub` (the LMS's own user "
        "ID), `person_sourcedid` (the SIS ID in the `lis` claim) or `preferred_username`. Pick the one that gives "
        "the same usernames as the campus's other sign-in methods.",
    )
    email_domains: list[str] = Field(
        default_factory=list,
        description="With `username_claim: email`: the domains whose addresses are accepted (their local part is "
        "the username); an address from another domain is refused. Empty: any address's local part.",
    )
    allowed_roles: list[Role] = Field(
        default_factory=lambda: list(ROLES),
        description="Course roles whose launches sign people in: `student` (Learner), `ta` (TeachingAssistant), "
        "`instructor` (Instructor). A launch with none of these roles (a guest, an observer) is refused.",
    )
    courses: dict[str, str] = Field(
        default_factory=dict,
        description="LMS courses tied to campus.yaml courses: the LMS course's context ID or label -> the "
        "`courses:` ID. A launch from an LMS course not listed here gets a course of its own with "
        "`create_courses`, else it is refused.",
    )
    create_courses: bool = Field(
        False,
        description="Make a CampusHub course on the first launch from an LMS course that `courses` does not "
        "list (its ID from the LMS course's label). Off: such launches are refused with `course_contact`.",
    )
    course_contact: str = Field(
        "an administrator of CampusHub",
        description="Whom people should ask when their LMS course is not set up here, as the refusal page says it.",
    )
    clock_skew: int = Field(60, ge=0, le=600, description="Seconds the LMS's clock may differ from this machine's.")

    @model_validator(mode="after")
    def _endpoints_known(self) -> LtiSignIn:
        preset = PRESETS.get(self.lms)
        if self.lms in ("moodle", "brightspace") and self.site is None and self.issuer is None:
            raise ValueError(f"give `site`, the address of your {self.lms.title()} (e.g. https://lms.example.edu)")

        def derivable(key: str) -> bool:
            if preset is None:
                return False
            return key != "issuer" or preset.issuer is not None or self.site is not None

        missing = [
            key for key in ("issuer", "auth_login_url", "jwks_url") if getattr(self, key) is None and not derivable(key)
        ]
        if missing:
            raise ValueError(
                f"give {', '.join(f'`{key}`' for key in missing)} (from the LMS's tool registration), or set `lms` "
                f"to one of {', '.join(PRESETS)}"
            )
        wrong = sorted(course for course in self.courses.values() if not COURSE_ID.match(course))
        if wrong:
            raise ValueError(f"`courses` maps to {', '.join(wrong)}, which are not course IDs: use IDs of `courses:`")
        return self

    def endpoint(self, key: str) -> str:
        """`issuer`, `auth_login_url` or `jwks_url`: the one given, else the `lms`'s."""
        given = getattr(self, key)
        if given:
            return str(given).rstrip("/") if key == "issuer" else str(given)
        site = (self.site or self.issuer or "").rstrip("/")
        preset = PRESETS[self.lms]
        value = getattr(preset, key) or site
        return value.format(site=site, client_id=self.client_id)


class LtiMethod(SignInMethod):
    type_name = "lti"
    config_model = LtiSignIn
    kind = "launch"
    authenticator_class = LTI_CLASS
    instances = "many"
    url_prefix_base = "lti"
    field_description = (
        "LMS platforms (LTI 1.3) whose courses launch CampusHub, each under a short name: give the LMS admin "
        "https://YOUR-HOST/hub/lti/<name>/login (login initiation) and https://YOUR-HOST/hub/lti/<name>/launch "
        "(redirect URI and target link); /hub/lti/<name>/config shows them all (docs/sign-in/lti.md)."
    )

    @property
    def label(self) -> str:
        return f"LTI {self.name}"

    @property
    def login_path(self) -> str:
        return f"lti/{self.name}/login"

    @property
    def chooses_own_names(self) -> bool:
        """An address of any domain: `ada@gmail.com` would be `ada`, and many LMSs let people edit their address."""
        lti: LtiSignIn = self.settings
        return lti.username_claim == "email" and not lti.email_domains

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        from campushub.hub.layout import database_url

        lti: LtiSignIn = self.settings
        return {
            "method_id": self.name,
            "issuer": lti.endpoint("issuer"),
            "client_id": {lti.client_id},
            "deployment_ids": list(lti.deployment_ids),
            "authorize_url": lti.endpoint("auth_login_url"),
            "jwks_endpoint": lti.endpoint("jwks_url"),
            "username_key": lti.username_claim,
            "email_domains": list(lti.email_domains),
            "allowed_roles": list(lti.allowed_roles),
            "course_map": dict(lti.courses),
            "create_courses": lti.create_courses,
            "course_contact": lti.course_contact,
            "time_leeway": lti.clock_skew,
            "db_url": database_url(config, layout),
        }

    def probes(self) -> list[Probe]:
        """The platform's JWKS fetched and its signing keys counted: a launch cannot be verified without them."""
        from campushub.identity.lti import jwks_summary

        lti: LtiSignIn = self.settings
        url = lti.endpoint("jwks_url")
        count, problem = jwks_summary(url)
        return [(f"lti {self.name} keys at {url} ({count} key{'s' if count != 1 else ''})", problem)]
