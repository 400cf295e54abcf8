"""SAML 2.0 sign-in on pysaml2: a service provider per configured IdP, under /hub/saml/<name>/.

jupyterhub-samlauthenticator cannot serve JupyterHub 6 (its assertion consumer trips the hub's XSRF check,
and it sends no AuthnRequest), so this is CampusHub's own, on pysaml2, which does the protocol:

- `login`: a signed AuthnRequest to the IdP (HTTP-Redirect), its ID kept in the hub database with where the
  person wanted to go (campushub.identity.saml_store), so that a hub restart meanwhile loses nobody's
  sign-in; with several IdPs in the metadata and none chosen in campus.yaml, a page to choose one first.
- `acs`: the IdP's POST. It is exempt from the hub's XSRF check, the one request that is: what protects it is
  the assertion's signature (required), its audience and recipient (this SP), its validity window (bounded
  skew) and InResponseTo naming a request of ours that no response has used yet, so a captured response
  cannot be posted again. Where the person goes next comes from our own record of the request, never from
  the posted RelayState.
- `metadata`: this SP's metadata with its signing and encryption certificate, for the IdP's or federation's
  admin; the key pair is made once in data_dir/secrets.
- `logout`: single logout started here: the hub session ends, then a signed LogoutRequest goes to the IdP,
  whose LogoutResponse comes back to the same URL. The IdP session it names is kept in the hub database too.

IdP metadata from a URL is fetched on a schedule and used only once its signature verifies against the
federation's certificate (campushub.identity.saml_metadata).

Attributes become a username and groups by campushub.identity.saml_sp; the finished sign-in is settled by
CampusAuthenticator like any redirect method's (campushub.identity.redirect).
"""

from __future__ import annotations

import asyncio
import datetime
import html
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler, LogoutHandler
from jupyterhub.utils import url_path_join
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.ident import code, decode
from saml2.metadata import create_metadata_string
from saml2.sigver import verify_redirect_signature
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httputil import url_concat
from traitlets import Bool, Float, Integer, List, Set, Unicode

from campushub.identity.redirect import RedirectMethodMixin
from campushub.identity.saml_metadata import XMLSEC, MetadataRefused, verify_signature
from campushub.identity.saml_sp import (
    DISPLAY_NAME,
    MAIL,
    AssertionRefused,
    SPEndpoints,
    first_value,
    groups_from,
    idp_scopes,
    sp_config,
    username_from,
)
from campushub.identity.saml_store import SamlStore

REQUEST_LIFETIME = 600  # seconds a sign-in may take at the IdP
METADATA_TIMEOUT = 30  # seconds to fetch idp_metadata_url
METADATA_RETRY = 300  # seconds before a failed fetch is tried again
NOT_VERIFIED = (
    "The sign-in could not be verified, so it was refused. Start again from the sign-in page; if it keeps "
    "happening, tell an administrator (the hub's log says why)."
)
NOT_ALLOWED = "Your account may not use this hub. Ask an administrator if you think it should."
LOGOUT_NOT_VERIFIED = "The sign-out request from your identity provider could not be verified."
SIGNER_MISSING = "This sign-in cannot be used right now: the hub cannot check signatures. Tell an administrator."
METADATA_TROUBLE = (
    "This sign-in cannot be used right now: the identity provider's metadata could not be read or verified. "
    "Tell an administrator (the hub's log says why)."
)


class CampusSAMLAuthenticator(RedirectMethodMixin, Authenticator):
    url_base = "saml"

    login_service = Unicode("Campus single sign-on (SAML)").tag(config=True)
    idp_metadata_file = Unicode("").tag(config=True)
    idp_metadata_url = Unicode("").tag(config=True)
    metadata_signing_certificate = Unicode("").tag(config=True)
    metadata_refresh_seconds = Float(43200).tag(config=True)
    idp_entity_id = Unicode("").tag(config=True)
    discovery_url = Unicode("", help="A federation's discovery service, instead of CampusHub's own IdP list.").tag(
        config=True
    )
    entity_id = Unicode("", help="This SP's entity ID; empty: its metadata URL, from the address people use.").tag(
        config=True
    )
    key_dir = Unicode(help="Where the SP's key pair is kept (data_dir/secrets).").tag(config=True)
    username_attributes = List(Unicode()).tag(config=True)
    username_scopes = List(Unicode()).tag(config=True)
    group_attributes = List(Unicode()).tag(config=True)
    allowed_groups = Set(Unicode()).tag(config=True)
    admin_groups = Set(Unicode()).tag(config=True)
    signed_response_only = Bool(False).tag(config=True)
    clock_skew = Integer(60).tag(config=True)
    db_url = Unicode(help="The hub database, where open requests and IdP sessions are kept.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clients: dict[str, tuple[Saml2Client, str]] = {}  # SP entity ID -> (client, the metadata it read)
        self._metadata_xml = ""  # the last fetched metadata that verified
        # ({IdP: the scopes its metadata declares}, how many IdPs the metadata holds), of the client in use
        self._metadata_facts: tuple[dict[str, set[str]], int] = ({}, 0)
        self._metadata_due = 0.0
        self._store: SamlStore | None = None

    @property
    def store(self) -> SamlStore:
        """Requests sent and IdP sessions: called in a thread (asyncio.to_thread), never on the hub's loop."""
        if self._store is None:
            self._store = SamlStore(self.db_url)
        return self._store

    def login_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "login")

    def logout_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "logout")

    def get_handlers(self, app: Any) -> list:
        return [
            ("/login", SAMLLoginHandler),
            ("/acs", SAMLAssertionHandler),
            ("/metadata", SAMLMetadataHandler),
            ("/logout", SAMLLogoutHandler),
        ]

    # The service provider ------------------------------------------------------------------------------------

    def endpoints(self, handler: web.RequestHandler) -> SPEndpoints:
        base = f"{handler.request.protocol}://{handler.request.host}{self.scope_prefix(handler.hub.base_url)}"
        return SPEndpoints(self.entity_id or f"{base}/metadata", f"{base}/acs", f"{base}/logout")

    def key_pair(self) -> tuple[Path, Path]:
        """The SP's signing and encryption key and certificate, made the first time (RSA 3072, ten years)."""
        key_path = Path(self.key_dir) / f"saml-{self.method_id}.key"
        cert_path = Path(self.key_dir) / f"saml-{self.method_id}.crt"
        if not (key_path.exists() and cert_path.exists()):
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CampusHub SAML {self.method_id}")])
            now = datetime.datetime.now(datetime.UTC)
            certificate = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .sign(key, hashes.SHA256())
            )
            key_path.touch(mode=0o600)
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return key_path, cert_path

    async def refresh_metadata(self) -> None:
        """Fetch `idp_metadata_url` when due, and check its signature; nothing to do for a metadata file.

        A federation's metadata service being down, or serving a document that does not verify, must not
        lock the campus out: the last document that verified stays in use, and the log says what went wrong.
        Until one has verified, sign-in answers with a 503 that says the metadata is the trouble.
        """
        if not self.idp_metadata_url or time.monotonic() < self._metadata_due:
            return
        self._metadata_due = time.monotonic() + min(self.metadata_refresh_seconds, METADATA_RETRY)
        try:
            answer = await AsyncHTTPClient().fetch(self.idp_metadata_url, request_timeout=METADATA_TIMEOUT)
            xml = answer.body.decode("utf-8")
            if self.metadata_signing_certificate:
                await asyncio.get_running_loop().run_in_executor(
                    None, verify_signature, xml, Path(self.metadata_signing_certificate)
                )
        except (OSError, HTTPClientError, UnicodeDecodeError, MetadataRefused) as exc:
            kept = "the metadata fetched before stays in use" if self._metadata_xml else "sign-in is unavailable"
            self.log.error("%s: IdP metadata from %s refused: %s; %s", self.method_id, self.idp_metadata_url, exc, kept)
            return
        self._metadata_xml = xml
        self._metadata_due = time.monotonic() + self.metadata_refresh_seconds
        self.log.info("%s: IdP metadata fetched from %s", self.method_id, self.idp_metadata_url)

    def client(self, handler: web.RequestHandler) -> Saml2Client:
        """pysaml2's client for this SP, made again when other IdP metadata has been fetched."""
        endpoints = self.endpoints(handler)
        source = self._metadata_xml if self.idp_metadata_url else self.idp_metadata_file
        cached = self._clients.get(endpoints.entity_id)
        if cached and cached[1] == source:
            return cached[0]
        if not source:
            raise web.HTTPError(503, METADATA_TROUBLE)
        if shutil.which(XMLSEC) is None:
            self.log.error(
                "%s: %s is not installed; SAML sign-in needs it (apt-get install xmlsec1)", self.method_id, XMLSEC
            )
            raise web.HTTPError(503, SIGNER_MISSING)
        key, cert = self.key_pair()
        settings = sp_config(
            endpoints, key, cert, [], signed_response_only=self.signed_response_only, clock_skew=self.clock_skew
        )
        # Fetched metadata is handed over inline, only after its signature verified (campushub.identity.saml_metadata).
        settings["metadata"] = {"inline": [source]} if self.idp_metadata_url else {"local": [source]}
        try:
            config = SPConfig()
            config.load(settings)
            client = Saml2Client(config)
        except Exception as exc:  # unreadable or expired metadata: pysaml2 raises many kinds
            self.log.error("%s: the IdP metadata cannot be used: %s: %s", self.method_id, type(exc).__name__, exc)
            raise web.HTTPError(503, METADATA_TROUBLE) from None
        self._clients[endpoints.entity_id] = (client, source)
        xml = source if self.idp_metadata_url else Path(source).read_text(encoding="utf-8")
        self._metadata_facts = (idp_scopes(xml), len(client.metadata.identity_providers()))
        return client

    def identity_providers(self, handler: web.RequestHandler) -> dict[str, str]:
        """{entity ID: display name} of the IdPs people may choose from."""
        metadata = self.client(handler).metadata
        found = {}
        for entity_id in metadata.identity_providers():
            names = metadata.name(entity_id) or entity_id
            found[entity_id] = names
        if self.idp_entity_id:
            return {self.idp_entity_id: found.get(self.idp_entity_id, self.idp_entity_id)}
        return found

    def discovery_redirect(self, handler: web.RequestHandler) -> str:
        """The federation's discovery service, asked to send the person back here with `idp=` (SAML IdP
        Discovery Protocol); what comes back is checked against the metadata like a choice on our own page."""
        here = f"{handler.request.protocol}://{handler.request.host}{handler.request.uri}"
        return url_concat(
            self.discovery_url,
            {"entityID": self.endpoints(handler).entity_id, "return": here, "returnIDParam": "idp"},
        )

    async def remember(self, request_id: str, next_url: str, idp: str) -> None:
        await asyncio.to_thread(self.store.remember, self.method_id, request_id, next_url, idp, REQUEST_LIFETIME)

    async def holds_session(self, name: str) -> bool:
        """Whether `name` signed in through this IdP, whose session the hub's logout must end too."""
        return await asyncio.to_thread(self.store.session_of, name, self.method_id) is not None

    async def keep_session(self, name: str, name_id: Any, idp: str, session_index: str) -> None:
        await asyncio.to_thread(self.store.keep_session, name, self.method_id, code(name_id), idp, session_index)

    def single_logout_location(self, handler: web.RequestHandler, session: tuple[str, str, str]) -> str | None:
        """Where to send the person with a signed LogoutRequest; None when the IdP offers no logout.

        The IdP session comes from the hub database, so it works after a restart or a metadata refresh (each
        makes a new pysaml2 client, whose own memory of sign-ins starts empty): it is handed back to the client
        before the request is made, so that the request carries the session index the IdP gave.
        """
        try:
            client = self.client(handler)
            name_id, idp = restored_session(client, session)
            responses = client.do_logout(name_id, [idp], reason="the person signed out", expire=None, sign=True)
        except Exception as exc:  # the hub's logout stands; the IdP's is best effort
            self.log.warning("%s: no single logout at the IdP: %s: %s", self.method_id, type(exc).__name__, exc)
            return None
        for _binding, info in (responses or {}).values() if isinstance(responses, dict) else ():
            location = dict(info.get("headers", [])).get("Location")
            if location:
                return location
        return None

    def logout_requested(self, handler: web.RequestHandler, query: dict[str, str]) -> Any:
        """The LogoutRequest an IdP sent through the person's browser, once its redirect signature verifies
        against a signing key of the IdP it names (pysaml2 on its own accepts one unsigned)."""
        client = self.client(handler)
        try:
            request = client.parse_logout_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
            issuer = request.message.issuer.text
            certificates = [cert for _, cert in client.metadata.certs(issuer, "any", "signing")]
            signed = bool(query.get("Signature")) and any(
                verify_redirect_signature(query, client.sec.sec_backend, cert) for cert in certificates
            )
        except Exception as exc:  # pysaml2 raises many kinds; each is a refusal with its reason in the log
            self.log.warning(
                "%s: the IdP's logout request was refused: %s: %s", self.method_id, type(exc).__name__, exc
            )
            raise web.HTTPError(400, LOGOUT_NOT_VERIFIED) from None
        if not signed:
            self.log.warning("%s: a logout request from %s was refused: not signed by it", self.method_id, issuer)
            raise web.HTTPError(400, LOGOUT_NOT_VERIFIED)
        return request.message

    def logout_answer(
        self, handler: web.RequestHandler, query: dict[str, str], session: tuple[str, str, str] | None
    ) -> str:
        """Where the browser takes the signed LogoutResponse: Success for the person's own session (ended by
        the caller), UnknownPrincipal otherwise."""
        client = self.client(handler)
        name_id = restored_session(client, session)[0] if session is not None else None
        info = client.handle_logout_request(
            query["SAMLRequest"], name_id, BINDING_HTTP_REDIRECT, sign=True, relay_state=query.get("RelayState")
        )
        return dict(info["headers"])["Location"]

    def logout_answered(self, handler: web.RequestHandler, response: str) -> None:
        """The IdP's LogoutResponse: logged either way; the hub session is already gone."""
        try:
            answer = self.client(handler).parse_logout_request_response(response, BINDING_HTTP_REDIRECT)
            self.log.info("%s: the IdP ended its session too (%s)", self.method_id, answer.status_ok())
        except Exception as exc:  # a bad answer changes nothing here
            self.log.warning("%s: the IdP's logout answer was refused: %s: %s", self.method_id, type(exc).__name__, exc)

    # The assertion -------------------------------------------------------------------------------------------

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        await self.refresh_metadata()
        waiting = await asyncio.to_thread(self.store.waiting, self.method_id)
        try:
            response = self.client(handler).parse_authn_request_response(
                data.get("SAMLResponse", ""), BINDING_HTTP_POST, outstanding=waiting
            )
        except Exception as exc:  # pysaml2 raises many kinds; each is a refusal with its reason in the log
            self.log.warning("%s: SAML response refused: %s: %s", self.method_id, type(exc).__name__, exc)
            raise web.HTTPError(403, NOT_VERIFIED) from None
        if response is None or response.in_response_to not in waiting:
            self.log.warning("%s: SAML response refused: it answers no request of ours", self.method_id)
            raise web.HTTPError(403, NOT_VERIFIED)
        taken = await asyncio.to_thread(self.store.take, self.method_id, response.in_response_to)  # once only
        if taken is None:
            self.log.warning("%s: SAML response refused: its request was answered already", self.method_id)
            raise web.HTTPError(403, NOT_VERIFIED)
        next_url, asked = taken
        issuer = response.issuer()
        if issuer != asked:  # another member of the federation answering a request sent to the campus's IdP
            self.log.warning(
                "%s: SAML response refused: from %s, but the request went to %s", self.method_id, issuer, asked
            )
            raise web.HTTPError(403, NOT_VERIFIED)
        handler.saml_next_url = next_url
        handler.saml_session = (response.name_id, issuer, str(response.session_info().get("session_index") or ""))
        attributes = response.get_identity()
        scopes, idp_count = self._metadata_facts
        owned = scopes.get(issuer, set() if idp_count > 1 else None)
        try:
            name = username_from(attributes, tuple(self.username_attributes), list(self.username_scopes), owned)
        except AssertionRefused as refused:
            self.log.warning("%s: %s (attributes sent: %s)", self.method_id, refused, sorted(attributes))
            raise web.HTTPError(403, f"{refused}.") from None
        groups = groups_from(attributes, tuple(self.group_attributes))
        if not (self.allow_all or self.allowed_groups & set(groups)):
            self.log.warning("%s: %r is in none of the allowed groups (has %s)", self.method_id, name, groups)
            raise web.HTTPError(403, NOT_ALLOWED)
        model: dict[str, Any] = {
            "name": self.campus_name(name),
            "groups": groups,
            "auth_state": {"saml": {"issuer": issuer, "mail": first_value(attributes, MAIL),
                                    "display_name": first_value(attributes, DISPLAY_NAME)}},
        }  # fmt: skip
        if self.admin_groups:
            # Groups make admins only when they come from the campus's own IdP: any member of a federation can
            # say "staff" about its own people.
            campus_idp = issuer == self.idp_entity_id or idp_count == 1
            model["admin"] = campus_idp and bool(self.admin_groups & set(groups))
        return model

    def vouched_email(self, model: dict) -> str | None:
        """`mail` from the campus's own IdP, for `link_by: email`; a federation's other members are not believed."""
        saml = model.get("auth_state", {}).get("saml", {})
        _, idp_count = self._metadata_facts
        if saml.get("issuer") == self.idp_entity_id or idp_count == 1:
            return saml.get("mail")
        return None

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        """`authenticate` let the person through by their groups (or `allow_all`); nobody comes another way."""
        return authentication is not None


class SAMLLoginHandler(BaseHandler):
    """A signed AuthnRequest to the IdP, or first the page to choose an IdP of a federation."""

    async def get(self) -> None:
        authenticator: CampusSAMLAuthenticator = self.authenticator
        await authenticator.refresh_metadata()
        providers = authenticator.identity_providers(self)
        chosen = self.get_argument("idp", "")
        if not providers:
            raise web.HTTPError(503, "No identity provider is known for this sign-in; tell an administrator.")
        if chosen and chosen not in providers:  # from a discovery service or an edited link: never a loop
            raise web.HTTPError(400, "The institution chosen does not sign in here. Go back and choose another.")
        if chosen not in providers:
            if len(providers) > 1 and authenticator.discovery_url:
                return self.redirect(authenticator.discovery_redirect(self))
            if len(providers) > 1:
                return self.finish(chooser_page(providers, self.request.uri))
            chosen = next(iter(providers))
        next_url = self.get_next_url(default=url_path_join(self.hub.base_url, "home"))
        request_id, info = authenticator.client(self).prepare_for_authenticate(
            entityid=chosen, relay_state="", binding=BINDING_HTTP_REDIRECT
        )
        await authenticator.remember(request_id, next_url, chosen)
        self.redirect(dict(info["headers"])["Location"])


class SAMLAssertionHandler(BaseHandler):
    """The IdP's POST of the signed response."""

    def check_xsrf_cookie(self) -> None:
        """Exempt: a cross-site POST by design; the signature, audience and InResponseTo protect it instead."""

    async def post(self) -> None:
        user = await self.login_user({"SAMLResponse": self.get_body_argument("SAMLResponse", "")})
        if user is None:
            raise web.HTTPError(403, NOT_ALLOWED)
        session = getattr(self, "saml_session", None)
        if session is not None and session[0] is not None:
            await self.authenticator.keep_session(user.name, *session)
        self.redirect(getattr(self, "saml_next_url", "") or self.get_next_url(user))


class SAMLMetadataHandler(BaseHandler):
    """This SP's metadata, for the IdP's or the federation's admin."""

    def check_xsrf_cookie(self) -> None:
        """A GET for anyone (an IdP fetches it); nothing to protect."""

    async def get(self) -> None:
        await self.authenticator.refresh_metadata()
        client = self.authenticator.client(self)
        self.set_header("Content-Type", "application/samlmetadata+xml")
        self.finish(create_metadata_string(None, config=client.config, valid=24 * 7).decode())


class SAMLLogoutHandler(LogoutHandler):
    """Single logout, both ways (the SP's SingleLogoutService).

    Started here: the hub session ends first, JupyterHub's own way (cookies, `shutdown_on_logout`); then the
    person goes to the IdP with a signed LogoutRequest, so that the next sign-in asks for a password again.
    The IdP sends them back here with its LogoutResponse, and on to the sign-in page. An IdP without a logout
    endpoint gets the hub's logout alone.

    Started at the IdP (the person signed out of campus SSO): the IdP's signed LogoutRequest comes through
    the browser; when it names the IdP session this browser's hub session came from, the hub session ends,
    and the browser goes back to the IdP with the answer either way.
    """

    async def get(self) -> None:
        authenticator: CampusSAMLAuthenticator = self.authenticator
        signed_out = self.settings["login_url"]
        if hasattr(authenticator.parent, "after_logout_url"):  # with Windows sign-in: not straight back in
            signed_out = authenticator.parent.after_logout_url(signed_out)
        if self.get_argument("SAMLResponse", ""):
            authenticator.logout_answered(self, self.get_argument("SAMLResponse"))
            return self.redirect(signed_out)
        if self.get_argument("SAMLRequest", ""):
            return await self.logout_from_the_idp()
        user = self.current_user
        session = (
            await asyncio.to_thread(authenticator.store.end_session, user.name, authenticator.method_id)
            if user
            else None
        )
        await self.default_handle_logout()
        self._jupyterhub_user = None
        await authenticator.refresh_metadata()
        location = authenticator.single_logout_location(self, session) if session is not None else None
        self.redirect(location or signed_out)

    async def logout_from_the_idp(self) -> None:
        authenticator: CampusSAMLAuthenticator = self.authenticator
        await authenticator.refresh_metadata()
        names = ("SAMLRequest", "RelayState", "SigAlg", "Signature")
        query = {name: self.get_argument(name) for name in names if self.get_argument(name, "")}
        request = authenticator.logout_requested(self, query)
        user = self.current_user
        method = authenticator.method_id
        session = await asyncio.to_thread(authenticator.store.session_of, user.name, method) if user else None
        if session is not None and names_session(session, request.issuer.text, request.name_id):
            await asyncio.to_thread(authenticator.store.end_session, user.name, method)
            await self.default_handle_logout()
            self._jupyterhub_user = None
            authenticator.log.info("%s: %s signed out at the IdP, and so of the hub", method, user.name)
        else:
            authenticator.log.info("%s: the IdP's logout request names no session of this browser", method)
            session = None
        self.redirect(authenticator.logout_answer(self, query, session))


def restored_session(client: Saml2Client, session: tuple[str, str, str]) -> tuple[Any, str]:
    """(NameID, IdP) of a session kept in the hub database, handed back to pysaml2's own memory of sign-ins,
    which logout requests and answers read (the session index among them) and which a restart empties."""
    coded, idp, session_index = session
    name_id = decode(coded)
    client.users.add_information_about_person(
        {"name_id": name_id, "issuer": idp, "not_on_or_after": 0, "session_index": session_index, "ava": {}}
    )
    return name_id, idp


def names_session(session: tuple[str, str, str], issuer: str, name_id: Any) -> bool:
    """Whether a LogoutRequest from `issuer` names this kept session: the same IdP, the same NameID."""
    coded, idp, _ = session
    kept = decode(coded)
    return (
        idp == issuer
        and name_id is not None
        and (kept.text or "") == (name_id.text or "")
        and (kept.format or "") == (name_id.format or "")
    )


def chooser_page(providers: dict[str, str], here: str) -> str:
    """A plain page listing a federation's IdPs; each link comes back here with ?idp=."""
    separator = "&" if "?" in here else "?"
    items = "".join(
        f'<li><a href="{html.escape(here + separator + "idp=" + quote(entity, safe=""))}">{html.escape(name)}</a></li>'
        for entity, name in sorted(providers.items(), key=lambda item: item[1].lower())
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Choose your institution</title></head>"
        f"<body><h1>Choose your institution</h1><ul>{items}</ul></body></html>"
    )
