"""The `workshop` sign-in method: listed participants sign in with the workshop's shared code.

A one-day workshop has no campus accounts to lean on; the organiser lists who comes and hands out
one code. The method is one config model, one SignInMethod subclass and one Authenticator.
"""

from __future__ import annotations

import hmac
from typing import Any

from jupyterhub.auth import Authenticator
from pydantic import Field
from traitlets import List, Unicode

from campushub.config.sections import Section, Username
from campushub.identity.methods.base import Probe, SignInMethod


class WorkshopSignIn(Section):
    """A workshop: who may come, and the code they all type as their password."""

    label: str = Field("Workshop", description="Title of the workshop's form on the sign-in page.")
    code: str = Field(min_length=8, description="The shared code participants type. Better given as `${ENV_VAR}`.")
    participants: list[Username] = Field(min_length=1, description="Usernames of the people who may sign in.")


class WorkshopAuthenticator(Authenticator):
    """Lets a listed participant in when the password is the workshop's code."""

    code = Unicode(help="The shared code.").tag(config=True)
    participants = List(Unicode(), help="Who may sign in.").tag(config=True)

    async def authenticate(self, handler: Any, data: dict) -> dict | None:
        name = str(data.get("username", "")).strip().lower()
        if name not in self.participants or not hmac.compare_digest(str(data.get("password", "")), self.code):
            return None
        return {"name": name, "groups": None}

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        # JupyterHub denies by default; the participants list is this method's allow rule.
        return username in self.participants


class WorkshopMethod(SignInMethod):
    type_name = "workshop"
    config_model = WorkshopSignIn
    kind = "password"
    authenticator_class = "campushub_workshop.method.WorkshopAuthenticator"
    instances = "many"
    field_description = "Workshops by a short name of your choice: listed participants sign in with a shared code."

    def authenticator_config(self, config: Any, layout: Any) -> dict[str, Any]:
        return {"code": self.settings.code, "participants": list(self.settings.participants)}

    def probes(self) -> list[Probe]:
        count = len(self.settings.participants)
        return [(f"workshop {self.name} participants", None if count else "nobody is listed")]
