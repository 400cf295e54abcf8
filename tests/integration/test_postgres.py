"""The hub database on a real PostgreSQL instead of SQLite: the hub, its users' servers and the CLI all use it.

Other hub tests run on both databases where the database matters (`@on_both_databases`).
"""

from __future__ import annotations

import pytest
import requests

from tests.helpers.databases import on_postgresql
from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import PASSWORD

pytestmark = pytest.mark.integration


@on_postgresql
def test_campus_on_postgresql(campus, hub_factory, postgres):
    campus.add_user("alice", PASSWORD)
    hub = hub_factory()
    assert "PostgresqlImpl" in hub.output()
    assert postgres.password not in hub.output()

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
