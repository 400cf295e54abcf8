"""The hub database on a real PostgreSQL instead of SQLite."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD
from tests.hubclient import Student

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"


def test_campus_on_postgresql(campus, hub_factory, postgres):
    url = postgres.new_database()
    campus.update(**{"database.url": url})
    # `init` made the admin account in SQLite; this campus starts over on PostgreSQL.
    campus.add_user("admin", ADMIN_PASSWORD)
    campus.add_user("alice", PASSWORD)
    hub = hub_factory()
    assert "PostgresqlImpl" in hub.output()
    assert "not-a-real-secret" not in hub.output()

    alice = Student(hub.url, "alice")
    alice.sign_in(PASSWORD)
    alice.wait_for_server()
    assert alice.kernel().execute("1+1") == "2"

    admin = Student(hub.url, "admin")
    admin.sign_in(ADMIN_PASSWORD)
    users = admin.hub_api("GET", "/users").json()
    assert {"admin", "alice"} <= {user["name"] for user in users}

    token = campus.cli("token", "--user", "alice").stdout.strip()
    me = requests.get(f"{hub.url}/hub/api/user", headers={"Authorization": f"token {token}"})
    assert me.json()["name"] == "alice"
