"""A real MIT Kerberos KDC (Debian's krb5-kdc) for the Windows integrated sign-in tests.

`running_kdc()` makes two realms on one throwaway KDC on loopback: CAMPUS.TEST (the hub's, like a
campus Active Directory domain) and OTHER.TEST (a trusted realm, like another forest), with a
cross-realm trust between them, a few people in each, and a keytab for the hub's `HTTP/localhost`
service principal. Everything lives in one temporary directory with its own KRB5_CONFIG and
KRB5_KDC_PROFILE; nothing in /etc is read or written.

    with running_kdc() as kdc:
        kdc.kinit("alice")                     # a ticket cache for alice@CAMPUS.TEST
        kdc.negotiate_token("alice", "localhost")  # what a browser sends in `Authorization: Negotiate`
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.ports import free_port
from tests.helpers.processes import stall_report, stop_process

KRB5KDC = Path("/usr/sbin/krb5kdc")
KDB5_UTIL = Path("/usr/sbin/kdb5_util")
KADMIN_LOCAL = Path("/usr/sbin/kadmin.local")
KINIT = Path("/usr/bin/kinit")
REALM = "CAMPUS.TEST"
OTHER_REALM = "OTHER.TEST"
SERVICE_HOST = "localhost"
# People in CAMPUS.TEST; `admin` has an instance (alice/admin), as Kerberos admin principals do.
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "alice/admin")
OTHER_PEOPLE = ("olga",)
START_TIMEOUT = 30.0
ENCTYPES = "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"

# A client's token for HTTP@<host>, made in a process of its own so that its KRB5_CONFIG and ticket cache
# are the only ones it sees (the library reads both from the environment).
CLIENT_TOKEN = """\
import sys
import kerberos
_, context = kerberos.authGSSClientInit("HTTP@" + sys.argv[1])
kerberos.authGSSClientStep(context, "")
print(kerberos.authGSSClientResponse(context))
"""


def missing_binaries() -> list[str]:
    return [str(path) for path in (KRB5KDC, KDB5_UTIL, KADMIN_LOCAL, KINIT) if not path.exists()]


@dataclass(frozen=True)
class Kdc:
    """A running KDC: its config files, the hub's keytab, and who has which password."""

    workdir: Path
    port: int
    krb5_conf: Path
    kdc_profile: Path
    keytab: Path
    passwords: dict[str, str]

    @property
    def service_principal(self) -> str:
        return f"HTTP/{SERVICE_HOST}@{REALM}"

    def env(self, person: str | None = None) -> dict[str, str]:
        """The environment a Kerberos client of this realm runs with; with `person`, their ticket cache."""
        env = {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_profile)}
        if person is not None:
            env["KRB5CCNAME"] = f"FILE:{self.ccache(person)}"
        return env

    def ccache(self, person: str) -> Path:
        return self.workdir / f"ccache-{person.replace('/', '_').replace('@', '_')}"

    def kinit(self, person: str) -> dict[str, str]:
        """`kinit person` with their password, as at a terminal; returns the environment that has the ticket."""
        principal = person if "@" in person else f"{person}@{REALM}"
        env = self.env(person)
        result = subprocess.run(
            [KINIT, principal],
            input=self.passwords[principal] + "\n",
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kinit {principal} failed: {result.stderr}")
        return env

    def negotiate_token(self, person: str, host: str = SERVICE_HOST) -> str:
        """The base64 SPNEGO token a browser holding `person`'s ticket sends to http://<host>/."""
        result = subprocess.run(
            [sys.executable, "-c", CLIENT_TOKEN, host],
            env={**os.environ, **self.env(person)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"no token for {person} to HTTP@{host}: {result.stderr}")
        return result.stdout.strip()

    def kadmin(self, realm: str, *query: str) -> str:
        return _kadmin(self.env(), realm, " ".join(query))


@contextmanager
def running_kdc() -> Iterator[Kdc]:
    """Create both realms, start krb5kdc on a free loopback port, and stop it and remove its files on exit."""
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="campushub-kdc-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        port = free_port()
        krb5_conf, kdc_profile = _write_config(workdir, port)
        env = {"KRB5_CONFIG": str(krb5_conf), "KRB5_KDC_PROFILE": str(kdc_profile)}
        passwords = _create_realms(workdir, env)
        process = _start(workdir, env)
        cleanup.callback(stop_process, process, 10)
        _wait_until_listening(port, process, workdir / "kdc.log")
        yield Kdc(workdir, port, krb5_conf, kdc_profile, workdir / "http.keytab", passwords)


def _write_config(workdir: Path, port: int) -> tuple[Path, Path]:
    """krb5.conf for clients (both realms, the trust path, no DNS) and kdc.conf for the KDC and its tools."""
    krb5_conf = workdir / "krb5.conf"
    krb5_conf.write_text(f"""\
[libdefaults]
    default_realm = {REALM}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
    {OTHER_REALM} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    {SERVICE_HOST} = {REALM}

[capaths]
    {OTHER_REALM} = {{
        {REALM} = .
    }}
    {REALM} = {{
        {OTHER_REALM} = .
    }}
""")
    realms = "\n".join(
        f"""\
    {realm} = {{
        database_name = {workdir / realm.lower()}.db
        key_stash_file = {workdir / realm.lower()}.stash
        acl_file = {workdir / "kadm5.acl"}
        max_life = 1h
        supported_enctypes = {ENCTYPES}
    }}"""
        for realm in (REALM, OTHER_REALM)
    )
    kdc_profile = workdir / "kdc.conf"
    kdc_profile.write_text(f"""\
[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}

[realms]
{realms}

[logging]
    kdc = FILE:{workdir / "kdc.log"}
""")
    (workdir / "kadm5.acl").write_text("")
    return krb5_conf, kdc_profile


def _kadmin(env: dict[str, str], realm: str, query: str) -> str:
    result = subprocess.run(
        [KADMIN_LOCAL, "-r", realm, "-q", query],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0 or "error" in result.stderr.lower():
        raise RuntimeError(f"kadmin.local -r {realm} -q {query!r} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _create_realms(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """Both databases, their people, the trust between them and the hub's keytab; returns principal -> password."""
    passwords: dict[str, str] = {}
    trust = secrets.token_urlsafe(24)
    for realm, people in ((REALM, PEOPLE), (OTHER_REALM, OTHER_PEOPLE)):
        result = subprocess.run(
            [KDB5_UTIL, "-r", realm, "create", "-s", "-P", secrets.token_urlsafe(16)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kdb5_util create -r {realm} failed:\n{result.stdout}{result.stderr}")
        for person in people:
            principal = f"{person}@{realm}"
            passwords[principal] = f"{person.replace('/', '-')}-password-1"
            _kadmin(env, realm, f"addprinc -pw {passwords[principal]} {principal}")
        # One key, the same in both databases, for each direction of the trust (as `netdom trust` sets up).
        for direction in (f"krbtgt/{REALM}@{OTHER_REALM}", f"krbtgt/{OTHER_REALM}@{REALM}"):
            _kadmin(env, realm, f"addprinc -pw {trust} {direction}")
    _kadmin(env, REALM, f"addprinc -randkey HTTP/{SERVICE_HOST}@{REALM}")
    _kadmin(env, REALM, f"ktadd -k {workdir / 'http.keytab'} HTTP/{SERVICE_HOST}@{REALM}")
    return passwords


def _start(workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """krb5kdc in the foreground (-n) serving both realms: its PID is the one we stop."""
    with (workdir / "kdc.out").open("wb") as out:
        return subprocess.Popen(
            [KRB5KDC, "-n", "-r", REALM, "-r", OTHER_REALM],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = (log.parent / "kdc.out").read_text(errors="replace")
            raise RuntimeError(f"krb5kdc exited with {process.returncode}:\n{out}\n{_read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"krb5kdc did not listen within {START_TIMEOUT}s:\n{_read(log)}\n{stall_report(process)}")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
