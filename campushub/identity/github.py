"""The `github` preset: sign-in with GitHub (or GitHub Enterprise Server) on oauthenticator's GitHubOAuthenticator.

GitHub speaks OAuth 2 without OpenID Connect (no discovery, no ID token), so this is its own
class beside the OIDC one. GitHubOAuthenticator checks organisation membership one API call per
allowed entry and can list teams; courses want both as CampusHub groups, so each sign-in reads
the person's organisations and teams once and they become groups named `org` and `org:team`,
which allowed and admin groups then match like any other provider's groups.
"""

from __future__ import annotations

from oauthenticator.github import GitHubOAuthenticator

from campushub.identity.accounts import SUBJECT_KEY
from campushub.identity.redirect import RedirectMethodMixin


def github_groups(orgs: list[dict], teams: list[dict]) -> set[str]:
    """`org` for each organisation, `org:team` for each team (GitHub's team slug), lower-cased."""
    groups = {str(org["login"]).lower() for org in orgs}
    for team in teams:
        org = str(team["organization"]["login"]).lower()
        groups |= {org, f"{org}:{str(team['slug']).lower()}"}
    return groups


class CampusGitHubAuthenticator(RedirectMethodMixin, GitHubOAuthenticator):
    """GitHub accounts, their organisations and teams as groups, mounted at /hub/oidc/<method_id>/."""

    def user_info_to_username(self, user_info: dict) -> str:
        return self.campus_name(str(user_info.get("login", "")))

    async def update_auth_model(self, auth_model: dict) -> dict:
        auth_model = await super().update_auth_model(auth_model)  # teams (populate_teams_in_auth_state)
        # Logins can be renamed and then registered by someone else; the numeric id is the person's for good.
        auth_model[SUBJECT_KEY] = str(auth_model["auth_state"][self.user_auth_state_key]["id"])
        token = auth_model["auth_state"]["token_response"]
        auth_model["auth_state"]["orgs"] = await self._paginated_fetch(
            f"{self.github_api}/user/orgs?per_page=100", token["access_token"], token["token_type"]
        )
        return auth_model

    async def get_user_groups(self, auth_state: dict) -> set[str]:
        return github_groups(auth_state.get("orgs", []), auth_state.get("teams", []))

    # GitHub's e-mail is whatever the person made public: vouched_email stays None, it never links accounts.
