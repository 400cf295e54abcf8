"""OpenID Connect providers (the campus SSO, Azure AD / Entra ID, Google) and GitHub, each under a name.

GitHub is a preset of this type rather than a type of its own: it is configured like a provider
(client id, secret, allowed groups) though oauthenticator's GitHub class does the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from campushub.config.sections import Section
from campushub.identity.methods.base import Probe, SignInMethod

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

OIDC_CLASS = "campushub.identity.oidc.CampusOIDCAuthenticator"
GITHUB_CLASS = "campushub.identity.github.CampusGitHubAuthenticator"

OidcPreset = Literal["generic", "azuread", "google", "github"]


class OidcSignIn(Section):
    """One OpenID Connect provider: the campus SSO, Azure AD / Entra ID, or Google Workspace."""

    preset: OidcPreset = Field(
        "generic",
        description="`generic` (any OpenID provider; needs `discovery_url`), `azuread` (needs `tenant`), "
        "`google` (Google Workspace; `hosted_domain` restricts to your domain by the `hd` claim), "
        "`github` (GitHub accounts; organisations and teams are the groups, as `org` and `org:team`).",
    )
    label: str = Field("Campus single sign-on", description="Text of this provider's button on the sign-in page.")
    discovery_url: str | None = Field(
        None,
        description="The provider's `/.well-known/openid-configuration` URL. Presets fill it in.",
        pattern=r"^https?://\S+$",
    )
    github_url: str | None = Field(
        None, description="`github`: your GitHub Enterprise Server's URL. Empty: github.com.", pattern=r"^https?://\S+$"
    )
    tenant: str | None = Field(None, description="`azuread`: the directory (tenant) ID; only its accounts get in.")
    hosted_domain: list[str] = Field(
        default_factory=list, description="`google`: Workspace domains whose accounts get in (checked on `hd`)."
    )
    client_id: str = Field(description="The client (application) ID registered with the provider.")
    client_secret: str = Field(description="Its secret. Better given as `${ENV_VAR}`.")
    callback_url: str | None = Field(
        None,
        description="The redirect URI registered with the provider. Empty: "
        "`<public URL>/hub/oidc/<name>/oauth_callback`, from the address people use.",
    )
    scopes: list[str] | None = Field(
        None, description="Scopes requested. Empty: `openid profile email`; for `github`: `read:org`."
    )
    username_claim: str | None = Field(
        None,
        description="Claim holding the username. Empty: `email` for `google`, `preferred_username` otherwise "
        "(`upn` on some AD setups).",
    )
    username_domains: list[str] = Field(
        default_factory=list,
        description="`alice@uni.edu` becomes `alice` when `uni.edu` is listed; names from other domains are refused.",
    )
    groups_claim: str | None = Field(None, description="Claim holding the person's groups (synced at each sign-in).")
    allowed_groups: list[str] = Field(default_factory=list, description="Groups whose members may sign in.")
    allow_all: bool = Field(
        False, description="Let every account of this provider sign in (with `tenant`/`hosted_domain`: of yours)."
    )
    admin_groups: list[str] = Field(default_factory=list, description="Groups whose members are admins.")

    @model_validator(mode="after")
    def _preset_needs(self) -> OidcSignIn:
        if self.preset == "generic" and not self.discovery_url:
            raise ValueError("the `generic` preset needs `discovery_url`")
        if self.preset == "azuread" and not self.tenant:
            raise ValueError("the `azuread` preset needs `tenant` (your directory ID)")
        if self.preset == "github":
            if self.groups_claim:
                raise ValueError("`github` groups are the person's organisations and teams: leave out `groups_claim`")
            return self
        if (self.allowed_groups or self.admin_groups) and not self.groups_claim:
            raise ValueError(
                "`allowed_groups` and `admin_groups` need `groups_claim` (the claim holding each person's groups)"
            )
        if "openid" not in self.effective_scopes:
            raise ValueError("`scopes` must include `openid`: without it the provider sends no ID token to check")
        return self

    @property
    def effective_scopes(self) -> list[str]:
        if self.scopes is not None:
            return list(self.scopes)
        return ["read:org"] if self.preset == "github" else ["openid", "profile", "email"]

    @property
    def effective_username_claim(self) -> str:
        """Google puts no preferred_username in its tokens; its accounts are named by e-mail."""
        if self.username_claim:
            return self.username_claim
        return {"google": "email", "github": "login"}.get(self.preset, "preferred_username")


class OidcMethod(SignInMethod):
    type_name = "oidc"
    config_model = OidcSignIn
    kind = "redirect"
    authenticator_class = OIDC_CLASS
    instances = "many"
    url_prefix_base = "oidc"

    def __init__(self, name: str, settings: OidcSignIn) -> None:
        super().__init__(name, settings)
        if settings.preset == "github":
            self.authenticator_class = GITHUB_CLASS

    @property
    def login_path(self) -> str:
        return f"oidc/{self.name}/oauth_login"

    @property
    def chooses_own_names(self) -> bool:
        return self.settings.preset == "github"

    @property
    def syncs_groups(self) -> bool:
        return self.settings.preset == "github" or self.settings.groups_claim is not None

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        if self.settings.preset == "github":
            return github_method_settings(self.name, self.settings)
        return oidc_method_settings(self.name, self.settings)

    def probes(self) -> list[Probe]:
        from campushub.identity.diagnostics import oidc_problems

        return oidc_problems(self.name, self.settings)


def github_method_settings(name: str, github: OidcSignIn) -> dict[str, Any]:
    """Keyword arguments of one CampusGitHubAuthenticator: organisations and teams are its groups."""
    values: dict[str, Any] = {
        "method_id": name,
        "login_service": github.label,
        "client_id": github.client_id,
        "client_secret": github.client_secret,
        "scope": github.effective_scopes,
        "allowed_groups": {group.lower() for group in github.allowed_groups},
        "admin_groups": {group.lower() for group in github.admin_groups},
        "allow_all": github.allow_all,
        "manage_groups": True,
        "populate_teams_in_auth_state": True,
    }
    if github.github_url:
        values["github_url"] = github.github_url
    if github.callback_url:
        values["oauth_callback_url"] = github.callback_url
    return values


def oidc_method_settings(name: str, oidc: OidcSignIn) -> dict[str, Any]:
    """Keyword arguments of one CampusOIDCAuthenticator (several may exist, so not a config section)."""
    from campushub.identity.oidc import discovery_url_for

    required_claims: dict[str, list[str]] = {}
    if oidc.preset == "google" and oidc.hosted_domain:
        required_claims["hd"] = [domain.lower() for domain in oidc.hosted_domain]
    if oidc.preset == "azuread" and oidc.tenant:
        required_claims["tid"] = [oidc.tenant]
    values: dict[str, Any] = {
        "method_id": name,
        "login_service": oidc.label,
        "discovery_url": discovery_url_for(oidc.preset, oidc.discovery_url, oidc.tenant),
        "client_id": oidc.client_id,
        "client_secret": oidc.client_secret,
        "scope": oidc.effective_scopes,
        "username_claim": oidc.effective_username_claim,
        "username_domains": list(oidc.username_domains),
        "required_claims": required_claims,
        "allowed_groups": set(oidc.allowed_groups),
        "admin_groups": set(oidc.admin_groups),
        "allow_all": oidc.allow_all,
        "manage_groups": oidc.groups_claim is not None,
        "userdata_from_id_token": oidc.preset == "azuread",  # Azure's userinfo lacks groups and tid
    }
    if oidc.groups_claim:
        values["auth_state_groups_key"] = f"oauth_user.{oidc.groups_claim}"
    if oidc.callback_url:
        values["oauth_callback_url"] = oidc.callback_url
    return values
