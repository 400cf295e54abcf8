"""The `sign_in:` section, assembled from the registered sign-in method types.

Each type (campushub.plugins.sign_in_method_types) adds one key, validated by its own config model:
a single section (`local:`), a mapping of named sections (`oidc: {campus: ..., google: ...}`), or
either (`ldap:` is one directory, or several by name). Instance names are unique across types: a
single section is named after its key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model, model_validator

from campushub.config.sections import MethodName, Section, one_or_many
from campushub.identity.methods.base import SignInMethod
from campushub.identity.methods.local import LocalSignIn
from campushub.plugins import sign_in_method_types

LinkBy = Literal["none", "username", "email"]
DEFAULT_METHOD = "local"  # no method named at all: built-in accounts only


LINK_BY = Field(
    "none",
    description="When two methods produce the same username: `none` refuses the second method (the name "
    "belongs to the first one that used it); `username` treats them as the same person; `email` signs a "
    "person in to the account first used with the same e-mail address (the directory's `mail`, an "
    "OpenID provider's e-mail only when it says `email_verified`), whatever username the method gives.",
)


class SignInBase(Section):
    """How people sign in. Each key enables one method; no key at all means built-in accounts only."""

    # `link_by` and one key per method type are added by build_sign_in_model, link_by last.

    @model_validator(mode="before")
    @classmethod
    def _methods_named_are_enabled(cls, data: object) -> object:
        # `local:` with only comments under it means "on, with the defaults"; no method at all means local only.
        if not isinstance(data, dict):
            return data
        types = sign_in_method_types()
        single = {key for key, cls_ in types.items() if cls_.instances != "many"}
        data = {key: ({} if value is None and key in single else value) for key, value in data.items()}
        if not any((key in types and data[key] not in (None, {})) or key in single for key in data):
            data[DEFAULT_METHOD] = {}
        return data

    @model_validator(mode="after")
    def _instance_names_are_unique(self) -> SignInBase:
        seen: dict[str, str] = {}
        types = sign_in_method_types()
        for type_name, name, _ in self._configured():
            if name != type_name and name in types:
                raise ValueError(
                    f"`{type_name}` names cannot be {name}: that is a kind of sign-in method already; choose another"
                )
            if name in seen:
                raise ValueError(
                    f"`{type_name}` instance name {name!r} is taken by `{seen[name]}`: every sign-in method needs a "
                    "name of its own (it appears in URLs and in `admins` entries such as `ldap:prof.x`)"
                )
            seen[name] = type_name
        return self

    @model_validator(mode="after")
    def _link_by_username_only_between_assigned_names(self) -> SignInBase:
        chosen = self.self_chosen_methods
        if self.link_by == "username" and chosen:
            raise ValueError(
                "`link_by: username` would let anyone who picks a campus name take that person's account: "
                f"{', '.join(chosen)} let people choose their own usernames. Use `link_by: email` (vouched-for "
                "addresses only) or `none`, or close local sign-up (`local.signup: closed`)"
            )
        return self

    @model_validator(mode="after")
    def _references_between_methods_hold(self) -> SignInBase:
        for method in self.instances():
            method.check_references(self)
        return self

    def _configured(self) -> list[tuple[str, str, Section]]:
        """(type, instance name, settings) in page order: by type in registration order, then as written."""
        found = []
        for type_name in sign_in_method_types():
            value = getattr(self, type_name, None)
            if value is None:
                continue
            if isinstance(value, dict):
                found += [(type_name, name, settings) for name, settings in value.items()]
            else:
                found.append((type_name, type_name, value))
        return found

    def instances(self) -> list[SignInMethod]:
        """Every configured method instance, in page order."""
        types = sign_in_method_types()
        return [types[type_name](name, settings) for type_name, name, settings in self._configured()]

    def instance(self, name: str) -> SignInMethod | None:
        return next((method for method in self.instances() if method.name == name), None)

    def of_type(self, type_name: str) -> dict[str, Any]:
        """The settings of each instance of one type, by instance name."""
        return {name: settings for kind, name, settings in self._configured() if kind == type_name}

    @property
    def self_chosen_methods(self) -> list[str]:
        """Methods whose usernames people pick themselves (local sign-up, GitHub logins), not the institution."""
        chosen = ["local (sign-up)"] if self.local_settings.signup != "closed" and self.of_type("local") else []
        return chosen + self.chosen_name_methods

    @property
    def chosen_name_methods(self) -> list[str]:
        """Methods whose users pick their own login (GitHub): a bare name in `admins` never makes one of them admin."""
        return [method.name for method in self.instances() if method.chooses_own_names]

    @property
    def methods(self) -> list[str]:
        """Method instance names in page order."""
        return [name for _, name, _ in self._configured()]

    @property
    def local_settings(self) -> LocalSignIn:
        """Settings for built-in accounts, which admins may create with the CLI even when sign-in by them is off."""
        return self.of_type("local").get("local") or LocalSignIn()


def method_field(cls: type[SignInMethod]) -> tuple[Any, Any]:
    """The `sign_in.<type_name>` field for one method type."""
    model = cls.config_model
    description = cls.field_description or (model.__doc__ or "").strip()
    if cls.instances == "one":
        return model | None, Field(None, description=description)
    if cls.instances == "many":
        return dict[MethodName, model], Field(default_factory=dict, description=description)
    return one_or_many(model) | None, Field(None, description=description)


def build_sign_in_model() -> type[SignInBase]:
    fields = {type_name: method_field(cls) for type_name, cls in sign_in_method_types().items()}
    clash = sorted(set(fields) & set(SignInBase.model_fields))
    fields["link_by"] = (LinkBy, LINK_BY)
    if clash:
        raise RuntimeError(f"sign-in method types may not be named {', '.join(clash)}: those are sign_in keys")
    return create_model("SignIn", __base__=SignInBase, __doc__=SignInBase.__doc__, **fields)


SignIn = build_sign_in_model()
