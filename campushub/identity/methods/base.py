"""What a sign-in method is to CampusHub: one interface every method type implements.

A method *type* (built-in accounts, LDAP, OpenID Connect, a plug-in's) is a subclass of
`SignInMethod`; each *instance* is one configured entry under `sign_in:` in campus.yaml (two LDAP
directories are two instances of one type). The schema, the sign-in page, the hub's settings and
`campushub check` all read the registry (campushub.plugins) and these instances, never a list of
method names of their own, so a new method is one module plus one registration.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from campushub.config.sections import Section

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

Kind = Literal["password", "redirect", "negotiate", "launch"]
KINDS: tuple[Kind, ...] = ("password", "redirect", "negotiate", "launch")
# How many instances a type allows under its key: one section, a mapping of named sections, or either.
Instances = Literal["one", "many", "one-or-many"]
Settings = dict[str, dict[str, Any]]
Probe = tuple[str, str | None]  # (what was checked, the problem or None)


class SignInMethod(ABC):
    """One configured sign-in method. Subclasses set the class attributes and implement `authenticator_config`.

    Kinds: `password` methods get a username/password form on the sign-in page, posted to the hub's
    login URL with the instance's name; `redirect` methods get a button to `login_path`; `negotiate`
    methods (Kerberos) sign people in without a page (their button only tries again), and `launch`
    methods (LTI) are started from elsewhere, so they show nothing on the page.
    """

    type_name: ClassVar[str]
    """The key under `sign_in:` in campus.yaml, e.g. `ldap`."""
    config_model: ClassVar[type[Section]]
    """The pydantic section one instance is configured with; its docstring and field descriptions are the docs."""
    kind: ClassVar[Kind]
    authenticator_class: ClassVar[str]
    """Import path of the JupyterHub Authenticator that does the work, configured per instance."""
    instances: ClassVar[Instances] = "one"
    field_description: ClassVar[str | None] = None
    """The `sign_in.<type_name>` key's description in the config reference; empty: the model's docstring."""
    url_prefix_base: ClassVar[str] = ""
    """Where the instance's own handlers live, `/<base>/<name>` (empty: the hub's shared /login)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A type that forgets a required attribute fails when it is defined, not at the first sign-in."""
        super().__init_subclass__(**kwargs)
        if inspect.isabstract(cls):
            return
        required = ("type_name", "config_model", "kind", "authenticator_class")
        missing = [name for name in required if not hasattr(cls, name)]
        if missing:
            raise TypeError(f"sign-in method {cls.__name__} must set {', '.join(missing)}")
        if cls.kind not in KINDS:
            raise TypeError(f"sign-in method {cls.__name__}: kind {cls.kind!r} is not one of {', '.join(KINDS)}")
        if not (isinstance(cls.config_model, type) and issubclass(cls.config_model, Section)):
            raise TypeError(f"sign-in method {cls.__name__}: config_model must be a Section subclass")

    def __init__(self, name: str, settings: Any) -> None:
        self.name = name
        self.settings = settings

    @property
    def label(self) -> str:
        """The form's title or the button's text on the sign-in page."""
        return str(getattr(self.settings, "label", self.name))

    @property
    def url_prefix(self) -> str:
        return f"/{self.url_prefix_base}/{self.name}" if self.url_prefix_base else ""

    @property
    def login_path(self) -> str:
        """Where the sign-in page sends people for this method, relative to the hub's base URL."""
        return "login"

    @property
    def chooses_own_names(self) -> bool:
        """True when people pick their own usernames through this method (sign-up, GitHub logins).

        A bare name in `admins` never counts through such a method, and `link_by: username` is
        refused beside it: anyone could pick a campus name.
        """
        return False

    @property
    def syncs_groups(self) -> bool:
        """True when each sign-in replaces the person's groups from the directory or provider."""
        return False

    @abstractmethod
    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        """Keyword arguments of this instance's Authenticator (several instances of one class may exist)."""

    def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
        """Settings besides the Authenticator's own: handlers' templates, services. Usually none."""
        return {}

    def probes(self) -> list[Probe]:
        """What `campushub check` can find out about this instance by trying (a bind, a discovery URL)."""
        return []

    def check_references(self, sign_in: Any) -> None:
        """Raise ProblemAt when a key names another method that cannot serve (Kerberos' `groups_from_ldap`)."""
        return None

    def page_entry(self) -> dict[str, str]:
        """What the sign-in page may know of the instance: no secrets in templates."""
        return {"id": self.name, "label": self.label, "kind": self.kind, "login_path": self.login_path}

    def combined_entry(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        """The instance as CampusAuthenticator's `methods` trait holds it."""
        return {
            "id": self.name,
            "class": self.authenticator_class,
            "label": self.label,
            "kind": self.kind,
            "url_prefix": self.url_prefix,
            "syncs_groups": self.syncs_groups,
            "config": self.authenticator_config(config, layout),
        }
