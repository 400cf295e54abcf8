"""A hub with a SAML method `campus` trusting a real simplesamlphp IdP, as the SAML tests (API and browser) use it.

The hub serves its SP metadata at /hub/saml/campus/metadata; the IdP is told to trust it from that document,
as a federation admin would register it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.components.saml_idp import IdPUser, SAMLIdP, running_idp, sign_in
from tests.helpers.hub import Campus, RunningHub
from tests.helpers.hubclient import Student


@dataclass
class SamlCampus:
    hub: RunningHub
    idp: SAMLIdP
    entity_id: str
    acs_url: str
    certificate: str

    def trust(self, **options: object) -> None:
        slo = self.acs_url.replace("/acs", "/logout")
        self.idp.trust(self.entity_id, self.acs_url, certData=self.certificate, SingleLogoutService=slo, **options)

    def login_url(self, next_url: str = "/hub/home") -> str:
        return f"{self.hub.url}/hub/saml/campus/login?next={requests.utils.quote(next_url)}"

    def posted_response(self, user: IdPUser) -> tuple[Student, str, dict[str, str]]:
        """Sign in at the IdP: (the browser, where the IdP posts, what it posts); nothing sent to the hub yet."""
        student = Student(self.hub.url, user.username)
        action, fields = sign_in(student.session, self.login_url(), user.username, user.password)
        return student, action, fields


@contextmanager
def saml_campus_with(
    users: Sequence[IdPUser], campus: Campus, hub_factory: Callable[..., RunningHub], tmp_path: Path
) -> Iterator[SamlCampus]:
    with running_idp(users) as idp:
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
