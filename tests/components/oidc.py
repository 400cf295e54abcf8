"""A real OpenID Provider (the certified npm package oidc-provider) for the OpenID Connect sign-in tests.

`running_provider()` starts tests/components/oidc/server.mjs on a free loopback port with the
clients and users it is given, and stops it afterwards. Its state (sessions, codes, tokens, signing
key) lives only in that node process; its config and log live in one temporary directory.

    with running_provider(clients, users) as provider:
        ...  # provider.discovery_url, provider.issuer, ...

`login_through()` is the browser's part: follow redirects to the provider's login form, post the
credentials, and follow the redirects back to the relying party.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bench.ports import free_port
from tests.helpers.processes import stall_report, stop_process

COMPONENT_DIR = Path(__file__).with_name("oidc")
HOST = "127.0.0.1"
READY_LINE = "oidc-provider listening on "
# Normally ready in 0.3-0.6 s. Twice a start hung with the machine idle (node asleep on a futex): a hung start
# does not recover, so several short tries beat one long wait.
START_TIMEOUT = 20.0
START_ATTEMPTS = 4
STOP_TIMEOUT = 5.0
NPM_TIMEOUT = 300.0
MAX_REDIRECTS = 30
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

ClientSpec = Mapping[str, Any]  # {client_id, client_secret, redirect_uris}
UserSpec = Mapping[str, Any]  # {sub, username, password, email, email_verified, name, groups, hd?}


@dataclass(frozen=True)
class Provider:
    """A running OpenID Provider: where it answers, and the clients and users it was started with."""

    issuer: str
    port: int
    discovery_url: str
    clients: tuple[ClientSpec, ...]
    users: tuple[UserSpec, ...]


StartProvider = Callable[..., Provider]  # (clients, users, **options) -> Provider


def missing_node_tools() -> list[str]:
    """The tools this component needs (node, npm) that are not on PATH; empty when it can run."""
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


@contextmanager
def running_provider(clients: Sequence[ClientSpec], users: Sequence[UserSpec], **options: object) -> Iterator[Provider]:
    """Start server.mjs on a free loopback port; stop it and remove its files on exit.

    `options` go into its config as they are: `forge_id_token_signatures=True` (see server.mjs).
    """
    ensure_installed()
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="campushub-oidc-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            provider = _provider_on_a_free_port(clients, users)
            config = _write_config(workdir, provider, options)
            log = workdir / f"server-{attempt}.log"
            process = _start(config, log)
            cleanup.callback(stop_process, process, STOP_TIMEOUT)
            try:
                _wait_until_ready(process, log)
                break
            except NotReady as exc:
                stop_process(process, STOP_TIMEOUT)
                if attempt == START_ATTEMPTS:
                    raise RuntimeError(str(exc)) from None
                # Seen once on a loaded CI machine; the warning keeps it visible in the test summary.
                warnings.warn(f"{exc}\nstarting it again", stacklevel=1)
        yield provider


def _provider_on_a_free_port(clients: Sequence[ClientSpec], users: Sequence[UserSpec]) -> Provider:
    port = free_port()
    issuer = f"http://{HOST}:{port}"
    return Provider(
        issuer=issuer,
        port=port,
        discovery_url=f"{issuer}/.well-known/openid-configuration",
        clients=tuple(dict(client) for client in clients),
        users=tuple(dict(user) for user in users),
    )


def ensure_installed() -> None:
    """`npm ci` once, when node_modules lacks oidc-provider: the lock file pins what the tests run against.

    An exclusive lock makes concurrent test processes install it once, not on top of each other.
    """
    marker = COMPONENT_DIR / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    with open(Path(tempfile.gettempdir()) / "campushub-oidc-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=COMPONENT_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
        )
    if result.returncode != 0:
        raise RuntimeError(f"npm ci in {COMPONENT_DIR} failed:\n{result.stdout}{result.stderr}")


def rsa_private_jwk() -> dict:
    """A fresh RSA-2048 signing key as a private JWK.

    Made here rather than by node at start-up: key generation was where the hung starts stopped.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(RSAAlgorithm.to_jwk(key)), "alg": "RS256", "use": "sig"}


def _write_config(workdir: Path, provider: Provider, options: Mapping[str, object]) -> Path:
    config = workdir / "config.json"
    keys = {"signing_jwk": rsa_private_jwk()}
    if options.get("forge_id_token_signatures"):
        keys["forger_jwk"] = rsa_private_jwk()
    config.write_text(
        json.dumps(
            {
                "issuer": provider.issuer,
                "port": provider.port,
                "clients": list(provider.clients),
                "users": list(provider.users),
                **keys,
                **options,
            },
            indent=2,
        )
    )
    os.chmod(config, 0o600)
    return config


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """node in its own session, output to a file: a pipe nobody reads could fill up and stall the server."""
    with log.open("wb") as out:
        return subprocess.Popen(
            ["node", "server.mjs", str(config)],
            cwd=COMPONENT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class NotReady(Exception):
    """The server did not print its ready line in time; the message has its output and the machine's state."""


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for the ready line; a crash fails with everything the server printed, a timeout raises NotReady."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if READY_LINE in output:
            return
        if process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited with {process.returncode}:\n{output}")
        time.sleep(0.05)
    output = log.read_text(errors="replace")
    raise NotReady(f"oidc-provider was not ready within {START_TIMEOUT}s:\n{output}\n{stall_report(process)}")


class _LoginFormParser(HTMLParser):
    """Finds the form that holds the `#login` field, and where it posts to."""

    def __init__(self) -> None:
        super().__init__()
        self._form_action: str | None = None
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._form_action = attributes.get("action") or ""
        elif tag == "input" and attributes.get("id") == "login" and self._form_action is not None:
            self.action = self._form_action

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form_action = None


def login_form_action(response: requests.Response) -> str | None:
    """The absolute URL the page's login form posts to, or None when the page has no login form."""
    parser = _LoginFormParser()
    parser.feed(response.text)
    return None if parser.action is None else urljoin(response.url, parser.action)


def follow_redirects(
    session: requests.Session, response: requests.Response, stop_at: str | None = None
) -> requests.Response:
    """Follow redirects one by one, as a browser would (303/302 become GETs).

    Done by hand rather than by requests so that it can stop at `stop_at`: the redirect whose target
    starts with it is returned unfollowed (for a redirect_uri nobody listens on).
    """
    for _ in range(MAX_REDIRECTS):
        if response.status_code not in REDIRECT_STATUSES:
            return response
        target = urljoin(response.url, response.headers["Location"])
        if stop_at is not None and target.startswith(stop_at):
            return response
        response = session.get(target, allow_redirects=False)
    raise RuntimeError(f"more than {MAX_REDIRECTS} redirects, the last to {response.url}")


def login_through(
    session: requests.Session, start_url: str, username: str, password: str, stop_at: str | None = None
) -> requests.Response:
    """Sign in at the provider the way a browser does, starting from the relying party's login URL.

    GET `start_url` and follow redirects to the provider's login form, post the credentials to the
    form's action, and follow the redirects back. The session's own cookies (the relying party's
    state cookie, say) go along all the way. Returns the final response: the relying party's page,
    the login form again ("Invalid login"), or, with `stop_at`, the redirect to that URL.
    """
    page = follow_redirects(session, session.get(start_url, allow_redirects=False), stop_at)
    action = login_form_action(page)
    if action is None:
        raise LookupError(f"no login form at {page.url} (HTTP {page.status_code}):\n{page.text[:2000]}")
    answer = session.post(action, data={"login": username, "password": password}, allow_redirects=False)
    return follow_redirects(session, answer, stop_at)
