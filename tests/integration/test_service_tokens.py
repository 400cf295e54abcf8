"""Services the hub runs hold one valid token, whatever the number of restarts.

JupyterHub makes a managed service a new token at each start and keeps the old ones valid; CampusHub
revokes those at `up`, so a token that leaked from an earlier run (a log, a process listing) is dead.
"""

from __future__ import annotations

import pytest
from jupyterhub import orm

from tests.helpers.databases import on_both_databases
from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration


def service_token_count(database_url: str, name: str) -> int:
    session = orm.new_session_factory(database_url)()
    try:
        service = orm.Service.find(session, name)
        return len(service.api_tokens) if service is not None else 0
    finally:
        session.close()
        session.get_bind().dispose()


@on_both_databases
def test_each_start_leaves_one_token_per_service(campus, hub_factory):
    campus.update(**{"courses": {"phys101": {"members": ["alice"]}}})
    database = campus.database_url
    for _ in range(3):
        hub = hub_factory()
        admin = Student(hub.url, "admin")
        admin.sign_in(ADMIN_PASSWORD)
        hub.stop()
    assert service_token_count(database, "idle-culler") == 1
    assert service_token_count(database, "campushub-courses") == 1
