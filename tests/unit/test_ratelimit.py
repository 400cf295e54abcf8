"""The sign-in throttle with a fake clock: address lockouts start, last `lockout_seconds` and end;
accounts are only slowed down; every method of a hub counts against one address."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyterhub.auth import Authenticator
from tornado import web
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from traitlets.config import Config

from campushub.identity import local
from campushub.identity.accounts import AccountStore
from campushub.identity.combined import CampusAuthenticator
from campushub.identity.ratelimit import (
    MAX_DELAY,
    FailedLoginLimiter,
    SignInThrottle,
    SlidingWindowLimiter,
    retry_message,
    slowdown_delay,
)
from campushub.identity.redirect import RedirectMethodMixin
from tests.helpers.eventloop import run_alone


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> FailedLoginLimiter:
    return FailedLoginLimiter(max_failures=3, lockout_seconds=300, clock=clock)


def fail(limiter: FailedLoginLimiter, times: int, *keys: str) -> None:
    for _ in range(times):
        limiter.record_failure(*keys)


def test_no_failures_no_wait(limiter: FailedLoginLimiter) -> None:
    assert limiter.retry_after("user:alice") == 0


def test_fewer_than_max_failures_no_wait(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_lockout_after_max_failures(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(300)


def test_retry_after_counts_down_then_reaches_zero(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(100)
    assert limiter.retry_after("user:alice") == pytest.approx(200)
    clock.advance(199)
    assert 0 < limiter.retry_after("user:alice") <= 1
    clock.advance(1)
    assert limiter.retry_after("user:alice") == 0


def test_lockout_ends_when_the_oldest_counted_failure_expires(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    limiter.record_failure("user:alice")
    clock.advance(50)
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(250)


def test_old_failures_expire(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 2, "user:alice")
    clock.advance(300)
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_one_failure_after_lockout_does_not_relock(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(301)
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_success_clears_the_key(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    limiter.record_success("user:alice")
    assert limiter.retry_after("user:alice") == 0
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_success_clears_only_the_given_key(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice", "ip:192.0.2.1")
    limiter.record_success("user:alice")
    assert limiter.retry_after("user:alice") == 0
    assert limiter.retry_after("ip:192.0.2.1") > 0


def test_success_for_unknown_key_is_harmless(limiter: FailedLoginLimiter) -> None:
    limiter.record_success("user:nobody")
    assert limiter.retry_after("user:nobody") == 0


def test_keys_are_independent(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    assert limiter.retry_after("user:alice") > 0
    assert limiter.retry_after("user:bob") == 0
    assert limiter.retry_after("ip:192.0.2.1") == 0


def test_any_locked_key_locks_the_attempt(limiter: FailedLoginLimiter) -> None:
    # one address trying many usernames is locked out by its address key
    for name in ("alice", "bob", "carol"):
        limiter.record_failure(f"user:{name}", "ip:192.0.2.1")
    assert limiter.retry_after("user:dave", "ip:192.0.2.1") == pytest.approx(300)
    assert limiter.retry_after("user:dave", "ip:198.51.100.7") == 0


def test_retry_after_is_the_longest_wait(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(100)
    fail(limiter, 3, "ip:192.0.2.1")
    assert limiter.retry_after("user:alice", "ip:192.0.2.1") == pytest.approx(300)


@pytest.mark.parametrize("max_failures", [1, 5, 10])
def test_max_failures_is_respected(clock: FakeClock, max_failures: int) -> None:
    limiter = FailedLoginLimiter(max_failures=max_failures, lockout_seconds=60, clock=clock)
    fail(limiter, max_failures - 1, "user:alice")
    assert limiter.retry_after("user:alice") == 0
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(60)


def test_old_keys_are_swept_so_made_up_names_do_not_pile_up(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(max_events=3, window_seconds=60, clock=clock)
    for n in range(600):
        limiter.record(f"user:guess{n}")
    clock.advance(61)
    for n in range(600):
        limiter.record(f"user:other{n}")
    assert not any(key.startswith("user:guess") for key in limiter._events)
    assert limiter.count("user:other599") == 1


def test_a_key_keeps_no_more_events_than_its_limit_needs(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(max_events=3, window_seconds=60, clock=clock)
    for _ in range(50):
        limiter.record("ip:192.0.2.1")
    assert len(limiter._events["ip:192.0.2.1"]) == 3
    assert limiter.retry_after("ip:192.0.2.1") == pytest.approx(60)


# The slowdown per account ------------------------------------------------------------------------------


def test_slowdown_is_free_for_the_first_failures_then_doubles_up_to_a_cap() -> None:
    assert [slowdown_delay(n) for n in range(9)] == [0, 0, 0, 0.5, 1, 2, 4, 4, 4]
    assert slowdown_delay(10**6) == MAX_DELAY


def throttle(clock: FakeClock, max_failures: int = 3) -> SignInThrottle:
    return SignInThrottle(max_failures=max_failures, window_seconds=300, clock=clock)


def test_many_failures_for_an_account_never_lock_its_owner_out(clock: FakeClock) -> None:
    guarded = throttle(clock)
    for n in range(100):
        guarded.failed(f"198.51.100.{n}", "local:dora")
    assert guarded.retry_after("192.0.2.7") == 0  # dora's own address is not stopped
    assert guarded.delay("local:dora") == MAX_DELAY  # she only waits a few seconds
    guarded.succeeded("local:dora")
    assert guarded.delay("local:dora") == 0


def test_the_address_of_a_guesser_is_stopped_whatever_accounts_it_tries(clock: FakeClock) -> None:
    guarded = throttle(clock)
    for name in ("local:alice", "local:bob", "ldap:carol"):
        guarded.failed("192.0.2.1", name)
    assert guarded.retry_after("192.0.2.1") == pytest.approx(300)
    assert guarded.delay("local:dave") == 0
    clock.advance(300)
    assert guarded.retry_after("192.0.2.1") == 0


def test_a_success_does_not_clear_the_address(clock: FakeClock) -> None:
    guarded = throttle(clock)
    for _ in range(3):
        guarded.failed("192.0.2.1", "local:alice")
    guarded.succeeded("local:mallory")  # a guesser with an account of its own
    assert guarded.retry_after("192.0.2.1") > 0


def test_account_slowdown_ends_with_the_window(clock: FakeClock) -> None:
    guarded = throttle(clock, max_failures=100)
    for _ in range(5):
        guarded.failed("192.0.2.1", "local:alice")
    assert guarded.delay("local:alice") == 2
    clock.advance(301)
    assert guarded.delay("local:alice") == 0


def test_retry_message_says_when() -> None:
    assert retry_message(300) == "Too many failed sign-ins from your address. Try again in 5 minutes."
    assert retry_message(5, "sign-up requests") == "Too many sign-up requests from your address. Try again in 1 minute."


def test_the_slowdown_is_awaited_and_the_right_password_still_gets_in(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(local.asyncio, "sleep", fake_sleep)
    guarded = throttle(clock, max_failures=100)
    for n in range(4):
        guarded.failed(f"198.51.100.{n}", "local:dora")

    async def right_password() -> dict:
        return {"name": "dora"}

    model = run_alone(local.throttled(guarded, "192.0.2.7", "local:dora", right_password))
    assert model == {"name": "dora"}
    assert slept == [1.0]
    assert guarded.delay("local:dora") == 0


# One count per address for every method of a hub -------------------------------------------------------

PASSWORD = "a-long-password-1"


class RefusingMethod(Authenticator):
    """A password method whose every sign-in is refused, as a directory refuses a wrong bind."""

    async def authenticate(self, handler, data):
        return None


def visitor(address: str) -> SimpleNamespace:
    """A request as the hub sees it behind its own proxy, which appends the visitor's address."""
    start_line = RequestStartLine("POST", "/hub/login", "HTTP/1.1")
    request = HTTPServerRequest(start_line=start_line, headers=HTTPHeaders({"Host": "hub", "X-Forwarded-For": address}))
    return SimpleNamespace(request=request)


@pytest.fixture
def hub_authenticator(db_url: str) -> CampusAuthenticator:
    AccountStore(db_url).create("dora", PASSWORD)
    methods = [
        {"id": "local", "class": "campushub.identity.local.LocalAccountsAuthenticator", "kind": "password"},
        {"id": "ldap", "class": f"{__name__}.RefusingMethod", "kind": "password"},
    ]
    config = Config(
        {
            "CampusAuthenticator": {"max_failed_logins": 3, "lockout_seconds": 300},
            "LocalAccountsAuthenticator": {"db_url": db_url},
        }
    )
    return CampusAuthenticator(methods=methods, db_url=db_url, config=config)


def sign_in(auth: CampusAuthenticator, address: str, method: str, password: str = PASSWORD) -> dict | None:
    data = {"username": "dora", "password": password, "method": method}
    return run_alone(auth.authenticate(visitor(address), data))


def test_failures_by_any_password_method_count_against_one_address(hub_authenticator: CampusAuthenticator) -> None:
    assert hub_authenticator.sub_authenticators["local"].throttle is hub_authenticator.throttle
    for _ in range(3):
        assert sign_in(hub_authenticator, "192.0.2.1", "ldap") is None
    with pytest.raises(web.HTTPError) as refused:
        sign_in(hub_authenticator, "192.0.2.1", "local")
    assert refused.value.status_code == 429
    assert "Try again in 5 minutes" in refused.value.log_message
    # The account itself is not locked: from another address the right password gets in.
    model = sign_in(hub_authenticator, "192.0.2.2", "local")
    assert model is not None and model["name"] == "dora"


def test_wrong_local_passwords_count_against_the_address(hub_authenticator: CampusAuthenticator) -> None:
    for _ in range(3):
        assert sign_in(hub_authenticator, "192.0.2.1", "local", "wrong-password-9") is None
    with pytest.raises(web.HTTPError):
        sign_in(hub_authenticator, "192.0.2.1", "ldap")
    assert hub_authenticator.throttle.delay("local:dora") == 0.5


def test_the_limits_default_to_the_built_in_methods_defaults(tmp_path: Path) -> None:
    auth = CampusAuthenticator(methods=[], db_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
    assert (auth.throttle.max_failures, auth.throttle.window_seconds) == (5, 300)


# Redirect methods (OpenID Connect, GitHub) -------------------------------------------------------------


class Pipeline:
    """Stands in for OAuthenticator's pipeline: refuses (None), raises, or lets through."""

    outcome: object = None

    async def get_authenticated_user(self, handler, data=None):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeRedirectMethod(RedirectMethodMixin, Pipeline):
    pass


def redirect_method(parent: CampusAuthenticator, outcome: object) -> FakeRedirectMethod:
    method = FakeRedirectMethod(parent=parent, method_id="sso")
    method.outcome = outcome
    return method


def callback(method: FakeRedirectMethod, address: str) -> dict | None:
    return run_alone(method.get_authenticated_user(visitor(address)))


def test_refused_single_sign_ons_count_and_a_throttled_address_gets_429(hub_authenticator: CampusAuthenticator) -> None:
    assert callback(redirect_method(hub_authenticator, None), "192.0.2.1") is None
    with pytest.raises(web.HTTPError):
        callback(redirect_method(hub_authenticator, web.HTTPError(403, "refused")), "192.0.2.1")
    with pytest.raises(web.HTTPError):  # a provider in trouble is not the visitor's failure
        callback(redirect_method(hub_authenticator, web.HTTPError(503, "down")), "192.0.2.1")
    assert hub_authenticator.throttle.retry_after("192.0.2.1") == 0
    assert callback(redirect_method(hub_authenticator, None), "192.0.2.1") is None
    with pytest.raises(web.HTTPError) as refused:
        callback(redirect_method(hub_authenticator, {"name": "erin"}), "192.0.2.1")
    assert refused.value.status_code == 429
    # ... and the password forms refuse that address too.
    with pytest.raises(web.HTTPError):
        sign_in(hub_authenticator, "192.0.2.1", "local")


def test_the_built_in_method_alone_throttles_itself(db_url: str) -> None:
    AccountStore(db_url).create("dora", PASSWORD)
    alone = local.LocalAccountsAuthenticator(db_url=db_url, max_failed_logins=2)
    for _ in range(2):
        assert run_alone(alone.authenticate(visitor("192.0.2.1"), {"username": "dora", "password": "x"})) is None
    with pytest.raises(web.HTTPError) as refused:
        run_alone(alone.authenticate(visitor("192.0.2.1"), {"username": "dora", "password": PASSWORD}))
    assert refused.value.status_code == 429
    assert run_alone(alone.authenticate(visitor("192.0.2.2"), {"username": "dora", "password": PASSWORD})) == {
        "name": "dora"
    }
