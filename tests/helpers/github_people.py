"""The GitHub accounts and the campus.yaml section the GitHub sign-in tests share (the `github` preset).

The accounts are served by the GitHub stand-in (tests/components/github.py); the section points the
hub at it. `campus-courses:cs101` may sign in, `campus-courses:staff` are admins where a test says so.
"""

from __future__ import annotations

SECRET_ENV = "CAMPUSHUB_TEST_GITHUB_SECRET"
CLIENT = {"client_id": "Iv1.campushub", "client_secret": "github-secret-1"}


def account(login: str, orgs: list[str], teams: list[tuple[str, str]]) -> dict:
    return {
        "login": login,
        "password": f"{login}-gh-password-1",
        "id": sum(map(ord, login)),
        "name": login.title(),
        "email": f"{login}@users.noreply.test",
        "orgs": orgs,
        "teams": teams,
    }


ADA = account("Ada-L", ["Campus-Courses"], [("Campus-Courses", "cs101")])
TESS = account("tess", ["campus-courses"], [("campus-courses", "cs101"), ("campus-courses", "staff")])
BEN = account("ben", ["other-org"], [])
NUMBERED = account("42coder", ["campus-courses"], [("campus-courses", "cs101")])


def github_section(github_url: str, **changes: object) -> dict:
    """`sign_in.oidc.github` against the stand-in: the cs101 team may sign in (the secret from the environment)."""
    return {
        "preset": "github",
        "label": "GitHub",
        "github_url": github_url,
        "client_id": CLIENT["client_id"],
        "client_secret": f"${{{SECRET_ENV}}}",
        "allowed_groups": ["campus-courses:cs101"],
        **changes,
    }
