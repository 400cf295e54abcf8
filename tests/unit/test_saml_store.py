"""SAML sign-ins under way and IdP sessions in the hub database (SQLite, PostgreSQL): each request answered once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from campushub.identity.saml_store import SamlStore

IDP = "https://idp.campus.test/idp/shibboleth"


@pytest.fixture
def store(db_url: str) -> Iterator[SamlStore]:
    store = SamlStore(db_url)
    yield store
    store.dispose()


def test_a_request_is_answered_once_by_its_own_method_and_only_while_open(store: SamlStore) -> None:
    store.remember("campus", "id-1", "/hub/home", IDP, 600)
    store.remember("campus", "id-2", "/user/ada/lab", IDP, 0.5)
    store.remember("guests", "id-3", "/hub/home", "https://idp.guests.test/idp", 600)
    assert store.waiting("campus") == {"id-1": "/hub/home", "id-2": "/user/ada/lab"}

    assert store.take("guests", "id-1") is None, "another method's response cannot close this one's request"
    assert store.take("campus", "id-1") == ("/hub/home", IDP)
    assert store.take("campus", "id-1") is None, "a replayed response finds its request answered"
    time.sleep(1)
    assert store.take("campus", "id-2") is None, "past its lifetime"
    assert store.waiting("campus") == {}
    store.remember("campus", "id-4", "/hub/home", IDP, 600)  # sweeps what nobody answered in time
    assert store.take("campus", "id-2") is None and store.waiting("guests") == {"id-3": "/hub/home"}


def test_two_answers_at_once_close_a_request_once(store: SamlStore) -> None:
    for attempt in range(5):
        request_id = f"race-{attempt}"
        store.remember("campus", request_id, "/hub/home", IDP, 600)
        results: list[object] = []

        def answer(request_id: str = request_id, results: list[object] = results) -> None:
            results.append(store.take("campus", request_id))

        threads = [threading.Thread(target=answer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [result for result in results if result is not None] == [("/hub/home", IDP)], results
        assert len(results) == 4


def test_an_idp_session_is_kept_per_person_and_method_until_it_is_ended(store: SamlStore) -> None:
    store.keep_session("ada", "campus", "0=fmt,1=ada-nameid", IDP, "_session1")
    store.keep_session("ada", "campus", "0=fmt,1=ada-nameid", IDP, "_session2")  # signed in again
    store.keep_session("ada", "guests", "0=fmt,1=other", "https://idp.guests.test/idp", "")
    assert store.session_of("ada", "campus") == ("0=fmt,1=ada-nameid", IDP, "_session2")
    assert store.session_of("bob", "campus") is None
    assert store.end_session("ada", "campus") == ("0=fmt,1=ada-nameid", IDP, "_session2")
    assert store.end_session("ada", "campus") is None and store.session_of("ada", "campus") is None
    assert store.end_session("bob", "campus") is None
    assert store.end_session("ada", "guests") == ("0=fmt,1=other", "https://idp.guests.test/idp", "")


def test_a_removed_persons_sessions_and_course_roles_are_forgotten_and_nobody_elses(db_url: str) -> None:
    from campushub.identity.lti_store import LtiStore
    from campushub.removal import forget_sign_in_records

    saml, lms = SamlStore(db_url), LtiStore(db_url)
    for name in ("bob", "carol"):
        saml.keep_session(name, "campus", f"0=fmt,1={name}", IDP, "")
        lms.record(name, "phys-101", "instructor" if name == "bob" else "student")
    forget_sign_in_records(db_url, "bob")
    assert saml.session_of("bob", "campus") is None and lms.roles_of("bob") == {}
    assert saml.session_of("carol", "campus") is not None and lms.roles_of("carol") == {"phys-101": "student"}
    saml.dispose()
    lms.dispose()
