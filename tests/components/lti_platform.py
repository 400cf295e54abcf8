"""An LTI 1.3 platform on loopback, standing in for the LMS (Canvas, Moodle, Blackboard, Brightspace).

No LMS can run here, so this is written from the LTI 1.3 Core and Security Framework specifications: the
platform has an RSA key of its own and publishes it as a JWKS (`/jwks`), starts a launch with the OIDC
third-party-initiated login (`initiation_url()`: iss, login_hint, target_link_uri, client_id,
lti_deployment_id), and answers the tool's authentication request at `/auth` with a form that posts a signed
id_token (the launch) and the tool's own state back to the tool's redirect_uri, as a browser would submit it.

`launch_claims()` and `sign()` are there for the tests that forge: another key, another deployment, a used
nonce, an expired token. `jwks_delay_s` makes each JWKS answer wait, as an LMS across the campus network answers
in some tens of milliseconds, and `jwks_fetches` counts the JWKS requests (bench/lti_launches.py uses both).
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.ports import HOST, free_port

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"


@dataclass(frozen=True)
class LmsUser:
    sub: str
    name: str
    email: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class LmsCourse:
    id: str
    label: str
    title: str


@dataclass
class LtiPlatform:
    issuer: str
    client_id: str
    deployment_id: str
    key: rsa.RSAPrivateKey
    kid: str
    users: dict[str, LmsUser]
    launches: list[dict] = field(default_factory=list)  # the claims of every id_token it issued
    jwks_delay_s: float = 0.0  # how long each JWKS answer waits before it is sent
    jwks_fetches: int = 0  # JWKS requests received
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_jwks_fetch(self) -> None:
        with self._count_lock:
            self.jwks_fetches += 1

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def auth_url(self) -> str:
        return f"{self.issuer}/auth"

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def initiation_url(self, tool_login_url: str, user: LmsUser, course: LmsCourse, target_link_uri: str) -> str:
        """Where the LMS sends the browser first: the tool's login URL with the third-party-initiated login."""
        hint = json.dumps({"course": course.__dict__, "target": target_link_uri})
        query = {
            "iss": self.issuer,
            "login_hint": user.sub,
            "target_link_uri": target_link_uri,
            "lti_message_hint": hint,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
        }
        return f"{tool_login_url}?{urlencode(query)}"

    def launch_claims(self, user: LmsUser, course: LmsCourse, nonce: str, target_link_uri: str) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": user.sub,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": user.name,
            "email": user.email,
            f"{LTI}message_type": "LtiResourceLinkRequest",
            f"{LTI}version": "1.3.0",
            f"{LTI}deployment_id": self.deployment_id,
            f"{LTI}target_link_uri": target_link_uri,
            f"{LTI}resource_link": {"id": f"link-{course.id}"},
            f"{LTI}roles": list(user.roles),
            f"{LTI}context": {"id": course.id, "label": course.label, "title": course.title,
                              "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]},
        }  # fmt: skip

    def sign(self, claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def answer(self, query: dict[str, str]) -> str:
        """The platform's answer to the tool's authentication request: an auto-posting form with the id_token."""
        user = self.users[query["login_hint"]]
        hint = json.loads(query.get("lti_message_hint", "{}"))
        course = LmsCourse(**hint["course"])
        claims = self.launch_claims(user, course, query["nonce"], hint["target"])
        self.launches.append(claims)
        fields = {"id_token": self.sign(claims), "state": query["state"]}
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items()
        )
        return (
            f'<!DOCTYPE html><html><body><form method="post" action="{html.escape(query["redirect_uri"])}">'
            f"{inputs}</form><script>document.forms[0].submit()</script></body></html>"
        )


@contextmanager
def running_platform(
    users: list[LmsUser], client_id: str = "campushub-tool", jwks_delay_s: float = 0.0
) -> Iterator[LtiPlatform]:
    port = free_port()
    platform = LtiPlatform(
        issuer=f"http://{HOST}:{port}",
        client_id=client_id,
        deployment_id=f"deployment-{secrets.token_hex(4)}",
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        kid=str(uuid.uuid4()),
        users={user.sub: user for user in users},
        jwks_delay_s=jwks_delay_s,
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/jwks":
                platform.count_jwks_fetch()
                if platform.jwks_delay_s > 0:
                    time.sleep(platform.jwks_delay_s)
                return self.reply(json.dumps(platform.jwks()).encode(), "application/json")
            if parts.path == "/auth":
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                required = ("scope", "response_type", "client_id", "redirect_uri", "login_hint", "state", "nonce")
                missing = [name for name in required if name not in query]
                if missing or query["client_id"] != platform.client_id or query["response_type"] != "id_token":
                    return self.send_error(400, f"bad authentication request: missing {missing}")
                return self.reply(platform.answer(query).encode(), "text/html")
            self.send_error(404)

        def reply(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
