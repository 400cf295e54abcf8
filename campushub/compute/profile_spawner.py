"""The spawner behind `compute.profiles`: offers each person their profiles, checks the choice, and runs
the chosen profile's backend spawner.

wrapspawner's WrapSpawner does the wrapping (start, stop, poll and progress go to a child spawner of
a class chosen per start; the child's state is kept in ours). What it lacks, and this adds:

- who may see what: the form lists only the profiles a person's groups and courses allow;
- the check on every start, however it was asked for (form, query, REST API, a stored choice from
  an earlier start): `apply_user_options` refuses a hidden or unknown profile, or any option besides
  `profile`, with a 403 that says what may be chosen, so the form is never the only guard;
- the child is configured by the hub's configuration alone, plus the profile's own settings. It does
  not take over the wrapper's configurable traits, as WrapSpawner's trait links would (a local
  server's `cmd` would reach a Slurm job): only what the hub sets on a spawner while it runs is passed
  on (the API token, the user's options, the OAuth client);
- the child's timeouts become the wrapper's, so a Slurm queue wait is measured against the Slurm
  start timeout, not a local one.
"""

from __future__ import annotations

import html
from typing import Any

from jupyterhub.spawner import Spawner
from tornado.web import HTTPError
from traitlets import Dict, List, Unicode, default, directional_link, import_item, observe
from wrapspawner import WrapSpawner

from campushub.compute.profiles import Offer, ProfileRefused, choose, default_offer, visible
from campushub.identity.groups import course_group

# What this spawner keeps in the database itself (the rest of a stored state is a backend spawner's own).
OWN_STATE_KEYS = frozenset({"child_conf", "child_state", "profile", "child_class", "stop_reason"})
# Traits the child takes from its own configuration and hands to the hub through the wrapper.
TIMEOUTS = ("start_timeout", "http_timeout", "poll_interval")


class ProfileRefusedError(HTTPError):
    """A start asked for a profile (or an option) the person may not have: 403, with the reason shown."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message, reason="Profile not available")
        self.jupyterhub_message = message


def form_html(offers: list[Offer], selected: str) -> str:
    """One radio button per profile, the person's default selected; titles and descriptions escaped."""
    rows = []
    for offer in offers:
        checked = " checked" if offer.slug == selected else ""
        details = " · ".join(part for part in (offer.summary, offer.description) if part)
        rows.append(
            f'<label class="campushub-profile list-group-item">'
            f'<input type="radio" name="profile" value="{html.escape(offer.slug)}"{checked} required> '
            f"<strong>{html.escape(offer.title)}</strong>"
            + (f'<br><small class="text-muted">{html.escape(details)}</small>' if details else "")
            + "</label>"
        )
    return '<div class="list-group campushub-profiles">' + "".join(rows) + "</div>"


class CampusProfilesSpawner(WrapSpawner):
    """Runs each server with the profile its person chose (or their default), on that profile's backend."""

    profiles = List(
        Dict(), help="The configured profiles (campushub.compute.profiles.Offer.as_trait), in campus.yaml's order."
    ).tag(config=True)
    course_defaults = Dict(Unicode(), help="Course ID -> the profile preselected for its members.").tag(config=True)
    course_members = Dict(
        List(Unicode()),
        help="Course ID -> usernames campus.yaml lists as its members: they count as in the course before they ever "
        "sign in (sign-in is what gives them the `course:<id>` group), so a server warmed for a meeting gets the "
        "course's profile.",
    ).tag(config=True)
    child_profile = Unicode("", help="The profile of the running (or last) server.")
    last_stop_reason = Unicode("", help="Why the last server ended on its own, once its child spawner is gone.")
    plain_spawner_class = Unicode(
        "",
        help="The spawner `compute.backend` runs without profiles: a server started before profiles were configured "
        "is found again through it (a reload that adds profiles keeps running servers).",
    ).tag(config=True)

    @property
    def offers(self) -> list[Offer]:
        return [Offer.from_trait(data) for data in self.profiles]

    def _groups(self) -> list[str]:
        listed = [course_group(course) for course, names in self.course_members.items() if self.user.name in names]
        return [group.name for group in self.user.groups] + listed

    def _offer(self, slug: str) -> Offer | None:
        return next((offer for offer in self.offers if offer.slug == slug), None)

    async def get_options_form(self) -> str:
        """A choice only when there is one to make: a person with a single profile starts without a form."""
        mine = visible(self.offers, self._groups(), self.user.admin)
        if len(mine) < 2:
            return ""
        chosen = default_offer(self.offers, self._groups(), self.course_defaults, self.user.admin)
        return form_html(mine, chosen.slug if chosen else "")

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        """Every field but the XSRF token is kept, so that the check refuses what a forged form adds."""
        options = {key: values[0] if len(values) == 1 else values for key, values in formdata.items()}
        options.pop("_xsrf", None)
        self.chosen_offer(options)  # refuse at once, on the form, rather than after the start began
        return options

    def chosen_offer(self, user_options: dict[str, Any]) -> Offer:
        try:
            return choose(self.offers, user_options, self._groups(), self.course_defaults, self.user.admin)
        except ProfileRefused as refused:
            self.log.warning("Refused a start of %s: %s", self._log_name, refused)
            raise ProfileRefusedError(str(refused)) from None

    @default("apply_user_options")
    def _check_and_apply(self) -> Any:
        def apply(spawner: CampusProfilesSpawner, user_options: dict[str, Any]) -> None:
            offer = spawner.chosen_offer(user_options or {})
            spawner.select(offer)

        return apply

    def select(self, offer: Offer) -> None:
        self.child_profile = offer.slug
        self.child_class = import_item(offer.spawner_class)
        self.child_config = dict(offer.overrides)

    def construct_child(self) -> Spawner:
        if self.child_spawner is not None:
            return self.child_spawner
        child = self.child_class(
            user=self.user,
            db=self.db,
            hub=self.hub,
            authenticator=self.authenticator,
            oauth_client_id=self.oauth_client_id,
            orm_spawner=self.orm_spawner,
            config=self.config,
            **self.child_config,
        )
        child.clear_state()
        if self.child_state:
            child.load_state(self.child_state)
        for name in self.runtime_traits(child):
            directional_link((self, name), (child, name))
        for name in TIMEOUTS:
            setattr(self, name, getattr(child, name))
        self.child_spawner = child
        return child

    @observe("port")
    def _pass_on_a_reported_port(self, change: dict) -> None:
        """A server in a batch job reports its port to the hub (batchspawner's API), which sets it on the
        spawner it knows, this one: the child waiting for it must see it."""
        if self.child_spawner is not None and change["new"]:
            self.child_spawner.port = change["new"]

    def runtime_traits(self, child: Spawner) -> list[str]:
        """Traits both have that the hub sets while running (not configuration): the child gets ours."""
        mine = self.traits()
        return sorted(
            name
            for name, trait in child.traits().items()
            if name in mine
            and not trait.metadata.get("config")
            and not mine[name].metadata.get("config")
            and name not in self.child_config
            and name not in {"config", "parent", "log", "orm_spawner", "user", "db", "hub", "authenticator"}
        )

    def load_state(self, state: dict) -> None:
        """A person who never started a server has no child yet: none is made until their first start. A server
        started before profiles were configured kept its backend spawner's own state: that spawner takes it back."""
        self.last_stop_reason = state.get("stop_reason", "")
        if not state.get("profile") and not state.get("child_class"):
            Spawner.load_state(self, state)
            plain = {key: value for key, value in state.items() if key not in OWN_STATE_KEYS}
            if plain and self.plain_spawner_class:
                self.child_class = import_item(self.plain_spawner_class)
                self.child_state = plain
                self.construct_child()
            return
        super().load_state(state)

    def load_child_class(self, state: dict) -> None:
        """Back from the database: the profile's class, or the class recorded at its start if it is gone."""
        self.child_profile = state.get("profile", "")
        offer = self._offer(self.child_profile)
        if offer is not None:
            self.select(offer)
        elif state.get("child_class"):
            self.child_class = import_item(state["child_class"])

    def get_state(self) -> dict:
        state = super().get_state()
        if self.stop_reason:
            state["stop_reason"] = self.stop_reason
        if self.child_profile:
            state["profile"] = self.child_profile
            state["child_class"] = f"{self.child_class.__module__}.{self.child_class.__name__}"
        return state

    def clear_state(self) -> None:
        """Kept across the clear: why the last server ended on its own, for the home page."""
        reason = self.stop_reason
        super().clear_state()
        self.child_profile = ""
        self.last_stop_reason = reason

    @property
    def stop_reason(self) -> str:
        """Why the last server ended without being asked to (a job's time limit), from its backend's spawner."""
        if self.child_spawner is not None:
            return getattr(self.child_spawner, "stop_reason", "")
        return self.last_stop_reason
