"""SignupHandler's own logic without a hub: the password hash runs off the event loop, floods are refused."""

from __future__ import annotations

import logging
import threading

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from campushub.identity.accounts import PENDING, AccountStore
from campushub.identity.combined import CampusAuthenticator
from campushub.identity.handlers import SignupHandler
from campushub.identity.local import LocalAccountsAuthenticator
from tests.helpers.eventloop import run_alone

PASSWORD = "a-long-password-1"


class RecordingStore(AccountStore):
    """The real store, noting which thread each slow call (hash, database) ran in."""

    def __init__(self, db_url: str) -> None:
        super().__init__(db_url)
        self.threads: dict[str, threading.Thread] = {}

    def create(self, name: str, password: str, status: str = "active") -> None:
        self.threads["create"] = threading.current_thread()
        super().create(name, password, status)

    def list(self, status: str | None = None):
        self.threads["list"] = threading.current_thread()
        return super().list(status)


class Handler(SignupHandler):
    """SignupHandler with the form and the rendered page in plain attributes instead of a connection."""

    log = logging.getLogger("test-signup")

    def __init__(self, authenticator: LocalAccountsAuthenticator, form: dict[str, str], address: str) -> None:
        self._authenticator = authenticator
        self.form = form
        self.status = 200
        self.page: dict = {}
        start_line = RequestStartLine("POST", "/hub/signup", "HTTP/1.1")
        self.request = HTTPServerRequest(
            start_line=start_line, headers=HTTPHeaders({"Host": "hub", "X-Forwarded-For": address})
        )

    @property
    def authenticator(self) -> LocalAccountsAuthenticator:
        return self._authenticator

    def get_body_argument(self, name: str, default: str = "") -> str:
        return self.form.get(name, default)

    async def render_template(self, name: str, **values) -> dict:
        return values

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        self.status = status_code

    def finish(self, chunk=None) -> None:
        self.page = chunk


def local_method(db_url: str, **config: object) -> LocalAccountsAuthenticator:
    """The built-in method as the hub builds it: under CampusAuthenticator, with a recording store."""
    method = {
        "id": "local",
        "class": "campushub.identity.local.LocalAccountsAuthenticator",
        "kind": "password",
        "config": {"db_url": db_url, **config},
    }
    hub = CampusAuthenticator(methods=[method], db_url=db_url)
    local = hub.sub_authenticators["local"]
    local._store = RecordingStore(db_url)
    return local


def post(local: LocalAccountsAuthenticator, name: str, address: str = "192.0.2.1") -> Handler:
    form = {"username": name, "password": PASSWORD, "password_confirm": PASSWORD}
    handler = Handler(local, form, address)
    run_alone(handler.post())
    return handler


def test_the_password_is_hashed_off_the_event_loop(db_url: str) -> None:
    local = local_method(db_url, signup_mode="approval")
    handler = post(local, "dave")
    assert handler.status == 200, handler.page
    store = local.store
    assert store.get("dave") is not None
    assert store.threads["create"] is not threading.main_thread()
    assert store.threads["list"] is not threading.main_thread()  # counting waiting requests, too


def test_sign_ups_from_one_address_are_limited_per_hour(db_url: str) -> None:
    local = local_method(db_url, signup_mode="open", signup_per_hour=2)
    assert [post(local, name).status for name in ("ann", "ben")] == [200, 200]
    refused = post(local, "cat")
    assert refused.status == 429
    assert refused.page["error"] == "Too many sign-up requests from your address. Try again in 60 minutes."
    assert local.store.get("cat") is None
    assert post(local, "cat", address="192.0.2.2").status == 200


def test_approval_mode_pauses_sign_up_past_max_pending(db_url: str) -> None:
    local = local_method(db_url, signup_mode="approval", max_pending=2)
    assert [post(local, name, address=f"192.0.2.{n}").status for n, name in enumerate(("ann", "ben"))] == [200, 200]
    paused = post(local, "cat", address="192.0.2.9")
    assert paused.status == 503
    assert "Sign-up is paused until an administrator" in paused.page["error"]
    assert paused.page["paused"] is True
    assert local.store.get("cat") is None
    # Approving one makes room again.
    local.store.approve("ann")
    assert post(local, "cat", address="192.0.2.9").status == 200
    assert local.store.get("cat").status == PENDING


@pytest.mark.parametrize("mode", ["open", "invite"])
def test_only_approval_mode_has_a_cap(db_url: str, mode: str) -> None:
    local = local_method(db_url, signup_mode=mode, max_pending=1)
    local.store.create("waiting", PASSWORD, status=PENDING)
    handler = Handler(local, {}, "192.0.2.1")
    run_alone(handler.get())
    assert handler.status == 200 and not handler.page["paused"]
