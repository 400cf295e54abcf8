"""A stand-in for GitHub's OAuth app flow and the REST endpoints CampusHub's `github` preset reads.

There is no GitHub (or GitHub Enterprise Server) to sign in against on loopback, so this serves,
in a GitHub Enterprise layout (`/login/oauth/...`, `/api/v3/...`), exactly what GitHub documents
for an OAuth app: the authorize page with a login form, the code-for-token exchange (JSON), and
`/user`, `/user/emails`, `/user/orgs`, `/user/teams`. Unknown clients, wrong redirect URIs, wrong
secrets, used codes and bad tokens get GitHub's own error shapes.

    with running_github(clients, users) as github:
        ...  # github.url is what campus.yaml's `github_url` names
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

HOST = "127.0.0.1"
API = "/api/v3"

ClientSpec = Mapping[str, Any]  # {client_id, client_secret, redirect_uri}
UserSpec = Mapping[str, Any]  # {login, password, id, name, email, emails: [{email, verified, primary}], orgs, teams}


@dataclass
class GitHubState:
    clients: dict[str, ClientSpec]
    users: dict[str, UserSpec]
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # login form id -> authorize request
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> {client_id, login, redirect_uri}
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> login
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class GitHub:
    url: str
    state: GitHubState


def _login_form(pending_id: str, error: str = "") -> str:
    message = f'<p id="error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html><title>Sign in to GitHub</title>{message}
<form method="post" action="/session?pending={pending_id}">
<input id="login" name="login"><input id="password" name="password" type="password">
<button id="submit" type="submit">Sign in</button></form>"""


class _Handler(BaseHTTPRequestHandler):
    server_version = "GitHub.com"
    state: GitHubState  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read responses, not logs
        pass

    def _send(self, status: int, body: str, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value), "application/json; charset=utf-8")

    def _html(self, status: int, body: str) -> None:
        self._send(status, body, "text/html; charset=utf-8")

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        return {key: values[0] for key, values in parse_qs(body).items()}

    def _query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/login/oauth/authorize":
            return self._authorize()
        if path.startswith(API + "/"):
            return self._api(path[len(API) :])
        self._json(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/session":
            return self._session()
        if path == "/login/oauth/access_token":
            return self._access_token()
        self._json(404, {"message": "Not Found"})

    def _authorize(self) -> None:
        query = self._query()
        client = self.state.clients.get(query.get("client_id", ""))
        if client is None:
            return self._html(404, "<h1>Not Found</h1><p>The client_id is unknown.</p>")
        if query.get("redirect_uri", client["redirect_uri"]) != client["redirect_uri"]:
            return self._html(400, "<h1>Redirect URI mismatch</h1><p>The redirect_uri is not registered.</p>")
        pending_id = secrets.token_urlsafe(12)
        with self.state.lock:
            self.state.pending[pending_id] = {
                "client_id": client["client_id"],
                "redirect_uri": client["redirect_uri"],
                "state": query.get("state", ""),
            }
        self._html(200, _login_form(pending_id))

    def _session(self) -> None:
        pending_id = self._query().get("pending", "")
        form = self._form()
        with self.state.lock:
            request = self.state.pending.get(pending_id)
        if request is None:
            return self._html(422, "<h1>This sign-in has expired</h1>")
        user = self.state.users.get(form.get("login", ""))
        if user is None or not secrets.compare_digest(user["password"], form.get("password", "")):
            return self._html(200, _login_form(pending_id, "Incorrect username or password."))
        code = secrets.token_hex(10)
        with self.state.lock:
            del self.state.pending[pending_id]
            self.state.codes[code] = {**request, "login": user["login"]}
        target = f"{request['redirect_uri']}?{urlencode({'code': code, 'state': request['state']})}"
        self._send(302, "", "text/html", {"Location": target})

    def _client_credentials(self, form: Mapping[str, str]) -> tuple[str, str]:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def _access_token(self) -> None:
        form = self._form()
        client_id, secret = self._client_credentials(form)
        client = self.state.clients.get(client_id)
        if client is None or not secrets.compare_digest(client["client_secret"], secret):
            return self._json(
                200,
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                },
            )
        with self.state.lock:
            grant = self.state.codes.pop(form.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return self._json(
                200, {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
            )
        token = "gho_" + secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[token] = grant["login"]
        self._json(200, {"access_token": token, "token_type": "bearer", "scope": "read:org,user:email"})

    def _api(self, path: str) -> None:
        if path == "/meta":  # public, like GitHub's
            return self._json(200, {"verifiable_password_authentication": True})
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        login = self.state.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            return self._json(401, {"message": "Bad credentials"})
        user = self.state.users[login]
        if path == "/user":
            return self._json(
                200, {"login": user["login"], "id": user["id"], "name": user["name"], "email": user.get("email")}
            )
        if path == "/user/emails":
            return self._json(200, list(user.get("emails", [])))
        if path == "/user/orgs":
            return self._json(200, [{"login": org} for org in user.get("orgs", [])])
        if path == "/user/teams":
            teams = [
                {"slug": team, "name": team, "organization": {"login": org}} for org, team in user.get("teams", [])
            ]
            return self._json(200, teams)
        self._json(404, {"message": "Not Found"})


@contextmanager
def running_github(clients: Sequence[ClientSpec], users: Sequence[UserSpec]) -> Iterator[GitHub]:
    """Serve on a free loopback port in a thread of the test process; shut down on exit."""
    state = GitHubState({c["client_id"]: c for c in clients}, {u["login"]: u for u in users})
    handler = type("GitHubHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="github-stand-in", daemon=True)
    thread.start()
    try:
        yield GitHub(url=f"http://{HOST}:{server.server_address[1]}", state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
