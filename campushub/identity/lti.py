"""LTI 1.3 launches from an LMS, on jupyterhub-ltiauthenticator's `lti13`, under /hub/lti/<name>/.

What ltiauthenticator 1.6.3 gives and CampusHub uses as it is: the Authenticator's traits (issuer, client IDs,
the platform's authentication URL and JWKS URL), the login initiation handler (it checks the third-party
initiated login's arguments, sets the state and nonce cookies and sends the browser to the platform with the
authentication request), the callback's state and nonce cookie checks, and the validator's claim checks
(LTI version, message type, resource link, `iat` not too old, `azp`). It works with JupyterHub 6.1.1.

Where it falls short, and what this module does instead:

- The launch's signature: its validator makes a new `PyJWKClient` for every launch, so each launch fetches
  the platform's JWKS again, synchronously, on the hub's event loop (every sign-in of the hub waits for the
  LMS), and an unreachable LMS reads as a forged token. Here one cached client per platform is asked in a
  thread, and the token is decoded with PyJWT (signature, `iss`, `aud`, `exp`, `iat`, required claims).
- `deployment_id` is never compared with anything ("not used anywhere", its handler says): any deployment of
  the tool in the LMS could launch. Here it must be one of the platform's `deployment_ids`.
- The nonce is only compared with a cookie: a launch posted again with the same cookies is accepted again.
  Here each login initiation is remembered by its state, with its nonce, and answered once; a used nonce is
  refused until the token would have expired anyway.
- The state and nonce cookies carry no SameSite attribute, so browsers treat them as Lax and do not send them
  with the LMS's cross-site form post; inside the LMS's iframe they are not set at all. Here they are
  SameSite=None (Secure) on https, and a launch that arrives without them (or is framed) gets a page that
  opens the launch in a new window, where it completes.
- Its username falls back to `sub` when the chosen claim is missing, which would give the person another
  account; its config JSON points the LMS at the host's root. Both are CampusHub's own here
  (campushub.identity.lti_claims and the `config` handler).

A verified launch names a course (the LMS `context`) and the person's role in it: campushub.identity.lti_store
keeps both, and the person lands in ~/courses/<id>.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.error import ValidationError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler, _serialize_state
from ltiauthenticator.lti13.validator import LTI13LaunchValidator
from ltiauthenticator.utils import convert_request_to_dict
from tornado import web
from traitlets import Bool, Dict, Integer, List, Unicode

from campushub.identity.accounts import SUBJECT_KEY
from campushub.identity.lti_claims import (
    CONTEXT_CLAIM,
    DEPLOYMENT_CLAIM,
    ROLES_CLAIM,
    LaunchRefused,
    course_slug,
    free_course_id,
    mapped_course,
    role_of,
    username_of,
)
from campushub.identity.lti_folder import COURSES_FOLDER
from campushub.identity.lti_store import LtiStore
from campushub.identity.redirect import REFUSED_NAME, RedirectMethodMixin
from campushub.identity.usernames import InvalidUsername

LAUNCH_KEY = "campushub_lti_launch"
LOGIN_LIFETIME = 600  # seconds between the login initiation and the launch coming back from the LMS
NOT_VERIFIED = (
    "The launch from your LMS could not be verified, so it was refused. Open it again from your course in the "
    "LMS; if it keeps happening, tell an administrator (the hub's log says why)."
)
EXPIRED = "The launch from your LMS has expired. Open it again from your course in the LMS."
USED = "This launch was already used. Open it again from your course in the LMS."
UNKNOWN = "This launch was not started by CampusHub, or it took too long. Open it again from your course in the LMS."
WRONG_DEPLOYMENT = (
    "This launch comes from an installation of CampusHub in the LMS that this hub does not know, so it was "
    "refused. Ask an administrator to add its deployment ID."
)
WRONG_PLATFORM = "This launch comes from an LMS that is not set up for this link, so it was refused."
INCOMPLETE = "The launch from your LMS is incomplete ({}), so it was refused. Tell an administrator."
LMS_TROUBLE = (
    "The LMS's keys could not be fetched, so the launch cannot be verified right now. Try again in a few minutes; "
    "if it keeps happening, tell an administrator."
)


@dataclass
class PendingLogin:
    """A login initiation waiting for its launch: what the state cookie is checked against, and how to start over."""

    nonce: str
    relaunch: dict[str, str]
    expires: float


class CampusLTIAuthenticator(RedirectMethodMixin, LTI13Authenticator):
    url_base = "lti"

    deployment_ids = List(Unicode(), help="Deployments of the tool in the LMS whose launches are accepted.").tag(
        config=True
    )
    email_domains = List(Unicode(), help="With username_key `email`: the domains accepted; empty: any.").tag(
        config=True
    )
    allowed_roles = List(Unicode(), help="Course roles (student, ta, instructor) whose launches sign in.").tag(
        config=True
    )
    course_map = Dict(help="LMS context ID or label -> campus.yaml course ID.").tag(config=True)
    create_courses = Bool(False, help="Make a course on the first launch from an unmapped LMS course.").tag(config=True)
    course_contact = Unicode("an administrator of CampusHub", help="Whom to ask about a course not set up.").tag(
        config=True
    )
    time_leeway = Integer(60, help="Seconds the LMS's clock may differ from this machine's.").tag(config=True)
    max_age = Integer(LOGIN_LIFETIME, help="Oldest `iat` of a launch accepted, in seconds.").tag(config=True)
    db_url = Unicode(help="The hub database, where LMS courses and course roles are kept.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pending: dict[str, PendingLogin] = {}
        self._answered: dict[str, float] = {}  # states and nonces used -> until when they are remembered
        self._jwks: jwt.PyJWKClient | None = None
        self._store: LtiStore | None = None

    @property
    def store(self) -> LtiStore:
        if self._store is None:
            self._store = LtiStore(self.db_url)
        return self._store

    # URLs and handlers -----------------------------------------------------------------------------------------

    def login_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "login")

    def callback_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "launch")

    def config_json_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "config")

    def get_handlers(self, app: Any) -> list:
        return [
            ("/login", LTILoginHandler),
            ("/launch", LTILaunchHandler),
            ("/config", LTIConfigHandler),
            ("/jwks", LTIJwksHandler),
        ]

    # Logins in progress ----------------------------------------------------------------------------------------

    def _forget_old(self) -> None:
        now = time.monotonic()
        self._pending = {state: login for state, login in self._pending.items() if login.expires > now}
        self._answered = {key: until for key, until in self._answered.items() if until > now}

    def remember(self, state: str, nonce: str, relaunch: dict[str, str]) -> None:
        self._forget_old()
        self._pending[state] = PendingLogin(nonce, relaunch, time.monotonic() + LOGIN_LIFETIME)

    def take(self, state: str) -> PendingLogin:
        """The login `state` began, once: a state answered before, or never issued, is refused with a page."""
        self._forget_old()
        if f"state:{state}" in self._answered:
            raise web.HTTPError(403, USED)
        login = self._pending.pop(state, None)
        if login is None:
            raise web.HTTPError(400, UNKNOWN)
        self._answered[f"state:{state}"] = time.monotonic() + LOGIN_LIFETIME
        return login

    def use_nonce(self, nonce: str, expires: float) -> None:
        """A nonce answers one launch; it is remembered for as long as a token carrying it could be valid."""
        key = f"nonce:{nonce}"
        if key in self._answered:
            self.log.warning("%s: launch refused: its nonce was used before (a replay)", self.method_id)
            raise web.HTTPError(403, USED)
        self._answered[key] = time.monotonic() + max(expires - time.time(), 0) + self.time_leeway + 1

    # The launch ------------------------------------------------------------------------------------------------

    def validator(self) -> LTI13LaunchValidator:
        return LTI13LaunchValidator(parent=self, time_leeway=self.time_leeway, max_age=self.max_age)

    def jwks_client(self) -> jwt.PyJWKClient:
        """One client per platform, whose keys are kept five minutes (a key it does not know makes it ask again)."""
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self.jwks_endpoint, cache_keys=True, lifespan=300, timeout=10)
        return self._jwks

    async def verify_launch(self, id_token: str) -> dict[str, Any]:
        """The id_token's claims once its signature, issuer, audience, expiry, deployment and LTI claims hold."""
        try:
            key = await asyncio.to_thread(self.jwks_client().get_signing_key_from_jwt, id_token)
        except jwt.PyJWKClientConnectionError as exc:
            self.log.error("%s: the LMS's keys at %s could not be fetched: %s", self.method_id, self.jwks_endpoint, exc)
            raise web.HTTPError(503, LMS_TROUBLE) from None
        except jwt.PyJWTError as exc:
            self.log.warning("%s: launch refused: no key of the LMS signed it: %s", self.method_id, exc)
            raise web.HTTPError(403, NOT_VERIFIED) from None
        try:
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=list(self.jwks_algorithms),
                audience=list(self.client_id),
                issuer=self.issuer,
                leeway=self.time_leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.ExpiredSignatureError:
            self.log.warning("%s: launch refused: the token has expired", self.method_id)
            raise web.HTTPError(403, EXPIRED) from None
        except jwt.PyJWTError as exc:
            self.log.warning("%s: launch refused: %s: %s", self.method_id, type(exc).__name__, exc)
            raise web.HTTPError(403, NOT_VERIFIED) from None
        validator = self.validator()
        try:
            validator.validate_id_token(claims)
            validator.validate_azp_claim(claims, self.client_id)
        except ValidationError as exc:
            self.log.warning("%s: launch refused: %s", self.method_id, exc)
            raise web.HTTPError(400, INCOMPLETE.format(exc)) from None
        if claims.get(DEPLOYMENT_CLAIM) not in self.deployment_ids:
            self.log.warning(
                "%s: launch refused: deployment %r is not among deployment_ids",
                self.method_id,
                claims[DEPLOYMENT_CLAIM],
            )
            raise web.HTTPError(403, WRONG_DEPLOYMENT)
        return claims

    async def authenticate(self, handler: web.RequestHandler, data: dict | None = None) -> dict | None:
        """Who the verified launch is (username, role) and which course it is for; nothing is kept yet."""
        claims = data or {}
        try:
            name = username_of(claims, self.username_key, list(self.email_domains))  # type: ignore[arg-type]
        except LaunchRefused as refused:
            self.log.warning("%s: %s", self.method_id, refused)
            raise web.HTTPError(403, str(refused)) from None
        except InvalidUsername as exc:
            self.log.warning("%s: username refused: %s", self.method_id, exc)
            raise web.HTTPError(403, REFUSED_NAME) from None
        roles = claims.get(ROLES_CLAIM) or []
        role = role_of(roles)
        if role is None or role not in self.allowed_roles:
            self.log.warning(
                "%s: %r refused: roles %s are not among %s", self.method_id, name, roles, self.allowed_roles
            )
            raise web.HTTPError(403, "Your role in this course cannot use CampusHub. Ask your instructor.")
        course, new = self.course_of(claims)
        launch = {"course": course, "new": new, "role": role}
        return {"name": name, "groups": [], SUBJECT_KEY: str(claims["sub"]), LAUNCH_KEY: launch, "claims": claims}

    def course_of(self, claims: dict[str, Any]) -> tuple[str, bool]:
        """(the CampusHub course, whether it is to be made): mapped by the admin, tied before, or made now."""
        context = claims.get(CONTEXT_CLAIM) or {}
        if not isinstance(context, dict) or not context.get("id"):
            raise web.HTTPError(400, INCOMPLETE.format("it names no course"))
        mapped = mapped_course(context, self.course_map)
        if mapped:
            return mapped, False
        tied = self.store.course_for(self.issuer, claims[DEPLOYMENT_CLAIM], str(context["id"]))
        if tied:
            return tied, False
        named = str(context.get("label") or context.get("title") or context["id"])
        if not self.create_courses:
            self.log.warning("%s: LMS course %r (%s) is not set up", self.method_id, named, context["id"])
            raise web.HTTPError(
                403,
                f"Your course {named} is not set up on CampusHub yet. Ask {self.course_contact} to connect it "
                f"(LMS course ID {context['id']}).",
            )
        campus_courses = set(getattr(self.parent, "courses", {}) or {})
        return free_course_id(course_slug(named), campus_courses | self.store.course_ids()), True

    async def settled_user(self, handler: web.RequestHandler, data: dict | None = None) -> dict | None:
        """Once the account is settled (the name is this person's), keep the course and role, then the groups."""
        model = await super().settled_user(handler, data)
        if model is None:
            return None
        launch, claims = model.pop(LAUNCH_KEY), model.pop("claims")
        course = launch["course"]
        if launch["new"]:
            context = claims[CONTEXT_CLAIM]
            title = str(context.get("title") or context.get("label") or course)
            course = await asyncio.to_thread(
                self.store.tie, self.issuer, claims[DEPLOYMENT_CLAIM], str(context["id"]), course, title
            )
            self.log.info("%s: LMS course %r is now the course %s", self.method_id, title, course)
        await asyncio.to_thread(self.store.record, model["name"], course, launch["role"])  # not on the hub's loop
        groups_of = getattr(self.parent, "groups_of", None)
        if groups_of is not None and getattr(self.parent, "manage_groups", False):
            model["groups"] = groups_of(model["name"], self.method_id, None)
        handler.lti_course = course  # type: ignore[attr-defined]
        return model

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        """`authenticate` let the person through by their role in a course; nobody comes another way."""
        return authentication is not None

    async def course_folder(self, handler: BaseHandler, user: Any, course: str) -> str:
        """Where the launch lands: ~/courses/<id> in JupyterLab, made first where the hub can make it as the person."""
        base = handler.hub.base_url
        try:
            made = await asyncio.to_thread(make_folder_for, user.spawner, user.name, course)
        except Exception as exc:  # a home the person broke must not stop the launch: they land at their root
            self.log.warning("%s: ~/courses/%s for %s could not be made: %s", self.method_id, course, user.name, exc)
            made = False
        if not made:
            return url_path_join(base, "user-redirect", "lab")
        return url_path_join(base, "user-redirect", "lab", "tree", "courses", course)


def already_made(home: Path, course: str) -> bool:
    """Whether ~/courses/<course> is there as a real folder of the home's owner; looked at, never followed."""
    try:
        owner = home.lstat().st_uid
        steps = [home / COURSES_FOLDER, home / COURSES_FOLDER / course]
        return all(stat.S_ISDIR(info.st_mode) and info.st_uid == owner for info in map(os.lstat, steps))
    except OSError:
        return False


def make_folder_for(spawner: Any, name: str, course: str) -> bool:
    """~/courses/<course> made as the person (root) or by the hub (personal mode), on the local backend; elsewhere
    the files live where the hub cannot reach, and False."""
    from campushub.compute.backend import WorkspaceAccount
    from campushub.compute.local import CampusLocalSpawner
    from campushub.identity import lti_folder
    from campushub.library.copy import as_the_person

    if not isinstance(spawner, CampusLocalSpawner):
        return False
    if spawner.isolate_users and already_made(Path(spawner.home_base) / (spawner.user_prefix + name), course):
        return True  # a returning student: no process to start
    if not spawner.isolate_users:
        home = Path(spawner.personal_root) / name
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        lti_folder.make_course_folder(home, course)
        return True
    account = spawner.user_prefix + name
    workspace = WorkspaceAccount(account, Path(spawner.home_base) / account, tuple(spawner.adopt_accounts))
    as_the_person(workspace, [course], script=Path(lti_folder.__file__))
    return True


class LTIPage(BaseHandler):
    """The LMS shows these pages in a frame: JupyterHub's `frame-ancestors 'none'` would show it an empty box.

    What they show is a refusal or a button that opens the launch in a window of its own, where the LMS must
    authenticate the person again, so a frame gains a framing page nothing.
    """

    @property
    def content_security_policy(self) -> str:
        return "frame-ancestors *"

    def check_xsrf_cookie(self) -> None:
        """Exempt: LTI messages are cross-site by design; the signed launch, state and nonce protect them."""

    def framed(self) -> bool:
        return self.request.headers.get("Sec-Fetch-Dest", "") == "iframe"

    def new_window_page(self, relaunch: dict[str, str]) -> None:
        """A page with one button: the same login initiation, in a window of its own, where cookies work."""
        url = url_path_join(self.authenticator.scope_prefix(self.hub.base_url), "login") + "?" + urlencode(relaunch)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Open CampusHub</title></head><body>"
            "<h1>Open CampusHub in a new window</h1>"
            "<p>Your browser does not let CampusHub sign you in inside the LMS page. "
            "Open it in a window of its own; your course opens there.</p>"
            f'<p><a id="open-new-window" href="{html.escape(url)}" target="_blank" rel="noopener">'
            "Open in a new window</a></p></body></html>"
        )


class LTILoginHandler(LTIPage, LTI13LoginInitHandler):
    """The third-party initiated login: checked against the platform, remembered, then sent to the LMS."""

    async def post(self) -> None:
        authenticator: CampusLTIAuthenticator = self.authenticator
        args = convert_request_to_dict(self.request.arguments)
        relaunch = {key: str(value) for key, value in args.items() if key != "_xsrf"}
        if args.get("iss", "").rstrip("/") != authenticator.issuer.rstrip("/"):
            authenticator.log.warning("%s: login from issuer %r refused", authenticator.method_id, args.get("iss"))
            raise web.HTTPError(400, WRONG_PLATFORM)
        if args.get("client_id") and args["client_id"] not in authenticator.client_id:
            authenticator.log.warning("%s: login for client_id %r refused", authenticator.method_id, args["client_id"])
            raise web.HTTPError(400, WRONG_PLATFORM)
        deployment = args.get("lti_deployment_id")
        if deployment and deployment not in authenticator.deployment_ids:
            authenticator.log.warning("%s: login from deployment %r refused", authenticator.method_id, deployment)
            raise web.HTTPError(403, WRONG_DEPLOYMENT)
        if self.framed():
            return self.new_window_page(relaunch)
        if not args.get("client_id"):  # optional in the initiation; the authentication request needs it
            self.request.arguments["client_id"] = [sorted(authenticator.client_id)[0].encode()]
        self._relaunch = relaunch
        super().post()

    get = post

    def get_redirect_uri(self) -> str:
        scheme = self.authenticator.get_uri_scheme(self.request)
        return f"{scheme}://{self.request.host}{self.authenticator.callback_url(self.hub.server.base_url)}"

    def get_state(self) -> str:
        """A fresh state per login, with no next URL: the launch decides where it lands (the course folder), and
        ltiauthenticator's own would log at every launch that it ignored the launch URL as a next URL."""
        if self._state is None:
            self._state = _serialize_state({"state_id": uuid.uuid4().hex, "next_url": None})
        return self._state

    def generate_nonce(self) -> str:
        nonce = super().generate_nonce()
        self.authenticator.remember(self.get_state(), nonce, self._relaunch)
        return nonce

    def _set_oauth_cookie(self, key: str, value: str) -> None:
        """Sent back with the LMS's cross-site form post only as SameSite=None, which browsers take on https only."""
        secure = self.request.protocol == "https" or self.authenticator.get_uri_scheme(self.request) == "https"
        extra = {"samesite": "None", "secure": True} if secure else {}
        self._set_cookie(key, value, expires_days=1, httponly=True, encrypted=True, **extra)


class LTILaunchHandler(LTIPage, LTI13CallbackHandler):
    """The LMS's form post of the signed launch (the tool's redirect URI)."""

    async def post(self) -> None:
        authenticator: CampusLTIAuthenticator = self.authenticator
        args = convert_request_to_dict(self.request.arguments)
        if not args.get("id_token") or not args.get("state"):
            raise web.HTTPError(400, INCOMPLETE.format("no id_token or state"))
        login = authenticator.take(args["state"])
        if self.framed() or not self._get_state_cookie():
            authenticator.log.info(
                "%s: launch without its cookies (in a frame?): offering a new window", authenticator.method_id
            )
            return self.new_window_page(login.relaunch)
        self.check_state()
        claims = await authenticator.verify_launch(args["id_token"])
        if claims["nonce"] != login.nonce:
            authenticator.use_nonce(str(claims["nonce"]), float(claims["exp"]))  # a nonce used before: a replay
            authenticator.log.warning("%s: launch refused: its nonce answers another login", authenticator.method_id)
            raise web.HTTPError(403, NOT_VERIFIED)
        self.check_nonce(claims)
        authenticator.use_nonce(login.nonce, float(claims["exp"]))
        user = await self.login_user(claims)
        if user is None:
            raise web.HTTPError(403, "Your account may not use this hub. Ask an administrator.")
        self.redirect(await authenticator.course_folder(self, user, self.lti_course))


class LTIConfigHandler(BaseHandler):
    """What the LMS admin registers: CampusHub's URLs for this platform, as JSON (Canvas can read it as it is)."""

    def get(self) -> None:
        authenticator: CampusLTIAuthenticator = self.authenticator
        scheme = authenticator.get_uri_scheme(self.request)
        base = f"{scheme}://{self.request.host}{authenticator.scope_prefix(self.hub.base_url)}"
        launch = f"{base}/launch"
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "title": "CampusHub",
                    "description": "Notebooks for this course",
                    "oidc_initiation_url": f"{base}/login",
                    "target_link_uri": launch,
                    "redirect_uris": [launch],
                    "public_jwk_url": f"{base}/jwks",
                    "scopes": [],
                    "extensions": [
                        {
                            "platform": "canvas.instructure.com",
                            "privacy_level": "public",
                            "settings": {
                                "placements": [
                                    {
                                        "placement": "course_navigation",
                                        "message_type": "LtiResourceLinkRequest",
                                        "target_link_uri": launch,
                                        "windowTarget": "_blank",
                                    }
                                ]
                            },
                        }
                    ],
                    "platform": {
                        "issuer": authenticator.issuer,
                        "client_id": sorted(authenticator.client_id),
                        "deployment_ids": list(authenticator.deployment_ids),
                        "auth_login_url": authenticator.authorize_url,
                        "jwks_url": authenticator.jwks_endpoint,
                    },
                },
                indent=2,
            )
        )


class LTIJwksHandler(BaseHandler):
    """The tool's public keys, which LMS registration forms ask for: none, as CampusHub calls no LMS service."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"keys": []}))


def jwks_summary(url: str) -> tuple[int, str | None]:
    """(signing keys at the platform's JWKS URL, the problem or None), for `campushub check`."""
    try:
        answer = requests.get(url, timeout=10)
        answer.raise_for_status()
        keys = answer.json().get("keys")
    except requests.RequestException as exc:
        return 0, f"cannot fetch the LMS's keys: {exc}; check `jwks_url` (or `lms`, `site`)"
    except (ValueError, AttributeError):
        return 0, "the answer is not a JWKS (JSON with `keys`); check `jwks_url`"
    if not isinstance(keys, list):
        return 0, "the answer is not a JWKS (JSON with `keys`); check `jwks_url`"
    usable = [key for key in keys if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty")]
    if not usable:
        return 0, "the JWKS holds no signing key: no launch could be verified"
    return len(usable), None
