"""Built-in accounts: usernames and (hashed) passwords kept in the hub database, with optional sign-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from campushub.config.sections import Duration, Section, Username
from campushub.identity.methods.base import SignInMethod

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

SignupMode = Literal["closed", "approval", "invite", "open"]


class LocalSignIn(Section):
    """Built-in accounts: username and password kept (hashed) in the hub database."""

    signup: SignupMode = Field(
        "closed",
        description=(
            "Who may create an account. `closed`: only admins (`campushub users add`). "
            "`approval`: anyone may ask, an admin approves. `invite`: anyone with an invite code "
            "(`campushub users invite`). `open`: anyone."
        ),
    )
    min_password_length: int = Field(10, ge=8, le=128, description="Shortest password accepted at sign-up.")
    max_failed_logins: int = Field(
        5,
        ge=1,
        le=100,
        description=(
            "Failed sign-ins allowed from one address within `lockout`, by any method (built-in accounts, "
            "the directory, a refused single sign-on), before that address must wait. An account under attack "
            "is only slowed down (a few seconds at most), never locked: its owner still gets in from elsewhere."
        ),
    )
    lockout: Duration = Field(
        300,
        ge=10,
        description="The window failed sign-ins are counted in, and the longest an address waits (seconds, or '5m').",
    )
    signup_per_hour: int = Field(
        10, ge=1, le=10000, description="Sign-up requests accepted from one address per hour; more get a 429."
    )
    max_pending: int = Field(
        200,
        ge=1,
        le=100000,
        description=(
            "In `approval` mode, requests waiting for an administrator at most: past it, sign-up is paused "
            "until an administrator handles them."
        ),
    )
    reserved_names: list[Username] = Field(
        default_factory=list,
        description="Usernames nobody may sign up with, besides those CampusHub always reserves (root, admin, "
        "administrator, the machine's system accounts, every name in `admins`, removed users' names).",
    )


class LocalMethod(SignInMethod):
    """Built-in accounts. Their settings are the `LocalAccountsAuthenticator` section (see `local_settings`)."""

    type_name = "local"
    config_model = LocalSignIn
    kind = "password"
    authenticator_class = "campushub.identity.local.LocalAccountsAuthenticator"

    @property
    def label(self) -> str:
        return "Sign in"

    @property
    def offers_sign_up(self) -> bool:
        return self.settings.signup != "closed"

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        return {}  # the class's own section: the CLI and sign-up use it even when this method is off


def local_settings(local: LocalSignIn, database: str, trusted_proxies: list[str]) -> dict[str, Any]:
    """The `LocalAccountsAuthenticator` section: built-in accounts exist (for the CLI) even with this method off."""
    return {
        "db_url": database,
        "signup_mode": local.signup,
        "min_password_length": local.min_password_length,
        "max_failed_logins": local.max_failed_logins,
        "lockout_seconds": local.lockout,
        "trusted_proxies": list(trusted_proxies),
        "signup_per_hour": local.signup_per_hour,
        "max_pending": local.max_pending,
    }
