"""Deployment shapes: HTTPS with the admin's certificate, behind a reverse proxy, personal mode."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.ports import free_port_block
from tests.helpers.hub import ADMIN_PASSWORD, CAMPUSHUB, TEST_USER_PREFIX, Campus, start_hub
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_with_the_admins_certificate(campus, hub_factory, certificate):
    cert, key = certificate
    campus.update(**{"listen.tls_cert": str(cert), "listen.tls_key": str(key)})
    hub = hub_factory()
    assert f"is ready at https://127.0.0.1:{campus.port}/" in hub.output()
    base = f"https://127.0.0.1:{campus.port}"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/hub/login", timeout=10)  # our own CA is not trusted by default: real TLS
    admin = Student(base, "admin")
    admin.session.trust_env = False  # else $REQUESTS_CA_BUNDLE would override the CA given here
    admin.session.verify = str(cert)
    admin.sign_in(ADMIN_PASSWORD)
    assert admin.hub_api("GET", "/user").json()["name"] == "admin"
    login_cookie = next(c for c in admin.session.cookies if c.name == "jupyterhub-session-id")
    assert login_cookie.secure
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{campus.port}/hub/login", timeout=5)


def test_behind_a_tls_terminating_proxy(campus, hub_factory):
    campus.update(**{"listen.public_url": "https://notebooks.example.edu/", "listen.trusted_proxies": ["127.0.0.1"]})
    hub = hub_factory()
    assert "is ready at https://notebooks.example.edu/" in hub.output()
    # What nginx sends for an https visitor, as documented in the admin guide.
    forwarded = {"X-Scheme": "https", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    session = requests.Session()
    session.headers.update(forwarded)
    session.headers["Host"] = "notebooks.example.edu"
    session.get(f"{hub.url}/hub/login")
    response = session.post(
        f"{hub.url}/hub/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "_xsrf": session.cookies["_xsrf"]},
        allow_redirects=False,
    )
    assert response.status_code == 302
    # Redirects stay relative to the public host: never to http:// or to another host.
    location = response.headers["Location"]
    assert location.startswith("/") or location.startswith("https://notebooks.example.edu/")
    assert "Secure" in response.headers["Set-Cookie"]
    # The visitor's address is logged, not the proxy's.
    assert "203.0.113.7" in hub.output()


@pytest.fixture
def owner() -> Iterator[pwd.struct_passwd]:
    """An ordinary account that runs CampusHub in personal mode."""
    name = TEST_USER_PREFIX + "owner"
    subprocess.run(["useradd", "--create-home", "--user-group", name], check=True)
    yield pwd.getpwnam(name)


def test_personal_mode_runs_servers_as_the_invoking_account(owner):
    directory = Path(tempfile.mkdtemp(prefix="campushub-personal-"))
    os.chmod(directory, 0o755)
    shutil.chown(directory, owner.pw_uid, owner.pw_gid)
    as_owner = ["runuser", "-u", owner.pw_name, "--", *CAMPUSHUB]

    def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "CAMPUSHUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
        return subprocess.run([*as_owner, *args], cwd=directory, env=env, input=input, capture_output=True, text=True)

    try:
        assert cli("init").returncode == 0
        campus = Campus(directory, free_port_block())
        campus.update(**{"listen.port": campus.port})
        assert cli("users", "add", "alice", "--password-stdin", input=PASSWORD + "\n").returncode == 0
        hub = start_hub(campus, user=owner.pw_name)
        try:
            assert "users are NOT isolated" in hub.output()
            alice = Student(hub.url, "alice")
            alice.sign_in(PASSWORD)
            alice.wait_for_server()
            identity = alice.kernel().execute("import os; print(os.getuid(), os.environ['HOME'], os.getcwd())")
            user_dir = str(directory / "data" / "users" / "alice")
            assert identity.split() == [str(owner.pw_uid), user_dir, user_dir]
        finally:
            hub.stop()  # runuser itself dies of the SIGTERM it forwards: its status says nothing
    finally:
        shutil.rmtree(directory, ignore_errors=True)
