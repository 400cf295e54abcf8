"""A real OpenLDAP server (Debian's slapd) for the LDAP / Active Directory sign-in tests.

`running_directory()` starts a throwaway slapd on loopback, seeded with a small campus
(people, nested and posix groups, an AD-style account, a search account), and stops it
afterwards. Everything lives in one temporary directory: config, schema, certificates,
database and log. Nothing outside it is read or written except /etc/ldap/schema and
the modules in /usr/lib/ldap.

    with running_directory() as directory:
        ...  # directory.url, directory.ca_cert, directory.passwords["alice"], ...
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException

from bench.ports import free_ports
from tests.helpers.processes import stall_report, stop_process

SLAPD = Path("/usr/sbin/slapd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
HOST = "127.0.0.1"
BASE_DN = "dc=campus,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
READER_PASSWORD = "reader-password-1"
PASSWORDS = {name: f"{name}-password-1" for name in ("alice", "bob", "carol", "dave", "erin", "frank")}
START_TIMEOUT = 60.0

# slapd has no Active Directory schema; this is the smallest one that lets an AD-style
# entry (found by sAMAccountName, no uid) exist. OIDs are under an example arc.
AD_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName'
    DESC 'Active Directory logon name'
    EQUALITY caseIgnoreMatch
    SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15
    SINGLE-VALUE )

attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userPrincipalName'
    DESC 'Active Directory user@domain logon name'
    EQUALITY caseIgnoreMatch
    SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15
    SINGLE-VALUE )

objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'campusADUser'
    DESC 'Carries the Active Directory logon names'
    SUP top AUXILIARY
    MAY ( sAMAccountName $ userPrincipalName ) )
"""

SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Directory:
    """A running, seeded slapd: where it listens, which CA to trust, and who signs in with what."""

    host: str
    port: int
    ldaps_port: int
    ca_cert: Path
    base_dn: str
    reader_password: str
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        """Plain LDAP; StartTLS is offered on it."""
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.ldaps_port}"

    @property
    def people_dn(self) -> str:
        return f"ou=people,{self.base_dn}"

    @property
    def groups_dn(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def reader_dn(self) -> str:
        """The search (service) account a hub binds as to look users up."""
        return f"cn=reader,{self.base_dn}"

    def group_dn(self, cn: str) -> str:
        return f"cn={cn},{self.groups_dn}"

    def sign_in_config(self, reader_password_env: str, **changes: object) -> dict:
        """A `sign_in.ldap` section for this directory, as an admin would write it (reader password from the env)."""
        config: dict = {
            "label": "University account",
            "url": self.url,
            "tls": "starttls",
            "ca_cert": str(self.ca_cert),
            "search": {
                "base": self.people_dn,
                "user_attribute": "uid",
                "bind_dn": self.reader_dn,
                "bind_password": f"${{{reader_password_env}}}",
            },
            "groups_base": self.groups_dn,
            "allowed_groups": ["students", "staff"],
            "admin_groups": ["hub-admins"],
        }
        config.update(changes)
        return config


@contextmanager
def running_directory() -> Iterator[Directory]:
    """Start a seeded slapd on two free loopback ports; stop it and remove its files on exit."""
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="campushub-slapd-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        port, ldaps_port = free_ports(2)
        directory = Directory(
            host=HOST,
            port=port,
            ldaps_port=ldaps_port,
            ca_cert=_make_certificates(workdir),
            base_dn=BASE_DN,
            reader_password=READER_PASSWORD,
            passwords=dict(PASSWORDS),
        )
        root_password = secrets.token_urlsafe(16)
        config = _write_config(workdir, root_password)
        _check_config(config)
        process = _start(config, f"{directory.url}/ {directory.ldaps_url}/", workdir / "slapd.log")
        cleanup.callback(stop_process, process, 10)
        root = _wait_until_answering(directory, process, root_password, workdir / "slapd.log")
        try:
            _seed(root, directory)
        finally:
            root.unbind()
        yield directory


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{result.stderr}")


def _make_certificates(workdir: Path) -> Path:
    """A CA made for this run and a 127.0.0.1 certificate it signed, so clients can verify for real.

    Returns the CA certificate (what clients trust); server.pem/server.key sit beside it.
    """
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *new_key, "-days", "2", "-subj", "/CN=CampusHub test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", workdir / "ca.key", "-out", workdir / "ca.pem",
    )  # fmt: skip
    _openssl(
        "req", "-new", *new_key, "-subj", f"/CN={HOST}",
        "-keyout", workdir / "server.key", "-out", workdir / "server.csr",
    )  # fmt: skip
    (workdir / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl(
        "x509", "-req", "-in", workdir / "server.csr", "-days", "2", "-set_serial", str(secrets.randbits(63)),
        "-CA", workdir / "ca.pem", "-CAkey", workdir / "ca.key", "-extfile", workdir / "server.ext",
        "-out", workdir / "server.pem",
    )  # fmt: skip
    return workdir / "ca.pem"


def _write_config(workdir: Path, root_password: str) -> Path:
    """A standalone slapd.conf: Debian's schemas plus ours, TLS, memberOf/refint, and the ACLs.

    ACLs: anyone may bind (authenticate); the reader and signed-in users read everything
    but userPassword, memberOf included; anonymous users read nothing but the root DSE and schema.
    """
    schema = workdir / "campus-ad.schema"
    schema.write_text(AD_SCHEMA)
    (workdir / "data").mkdir()
    includes = "\n".join(f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis"))
    config = workdir / "slapd.conf"
    config.write_text(f"""\
{includes}
include {schema}

pidfile {workdir / "slapd.pid"}
argsfile {workdir / "slapd.args"}

modulepath {MODULE_DIR}
moduleload back_mdb
moduleload memberof
moduleload refint

TLSCACertificateFile {workdir / "ca.pem"}
TLSCertificateFile {workdir / "server.pem"}
TLSCertificateKeyFile {workdir / "server.key"}

access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read

database mdb
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {root_password}
directory {workdir / "data"}
index objectClass,uid,sAMAccountName,userPrincipalName,member,memberUid eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay refint
refint_attributes member

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="cn=reader,{BASE_DN}" read
    by users read
    by * none
""")
    return config


def _check_config(config: Path) -> None:
    """slapd -Tt -u (checks, opens no database) first: a config mistake fails in slapd's words, not as a timeout."""
    result = subprocess.run([SLAPD, "-Tt", "-u", "-f", config], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"slapd rejected {config}:\n{result.stdout}{result.stderr}")


def _start(config: Path, urls: str, log: Path) -> subprocess.Popen[bytes]:
    """slapd in the foreground: its PID is the one we stop, nothing is left detached.

    `-d none` keeps it attached and logs only slapd's own errors (a busy port, a bad certificate) to `log`.
    """
    with log.open("wb") as out:
        return subprocess.Popen(
            [SLAPD, "-f", config, "-h", urls, "-d", "none"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_answering(
    directory: Directory, process: subprocess.Popen[bytes], root_password: str, log: Path
) -> ldap3.Connection:
    """Poll with a real bind until slapd serves; returns that bind (as the rootdn, for seeding)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            server = ldap3.Server(directory.url, connect_timeout=1)
            return ldap3.Connection(server, ROOT_DN, root_password, auto_bind=True, raise_exceptions=True)
        except LDAPException:
            time.sleep(0.05)
    raise RuntimeError(
        f"slapd did not answer within {START_TIMEOUT}s:\n{log.read_text(errors='replace')}\n{stall_report(process)}"
    )


def _ssha(password: str) -> str:
    """{SSHA} as slapd checks it: base64(sha1(password + salt) + salt)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _posix_person(directory: Directory, uid: str, given: str, surname: str, number: int) -> tuple[str, dict]:
    """An ordinary campus account: inetOrgPerson + posixAccount, signs in by uid."""
    return f"uid={uid},{directory.people_dn}", {
        "objectClass": ["inetOrgPerson", "posixAccount"],
        "uid": uid,
        "cn": f"{given} {surname}",
        "givenName": given,
        "sn": surname,
        "mail": f"{uid}@campus.test",
        "uidNumber": number,
        "gidNumber": 10000,
        "homeDirectory": f"/home/{uid}",
        "userPassword": _ssha(directory.passwords[uid]),
    }


def _ad_person(directory: Directory) -> tuple[str, dict]:
    """Frank is shaped like an Active Directory user: a cn RDN, sAMAccountName, UPN, and no uid."""
    return f"cn=Frank Miller,{directory.people_dn}", {
        "objectClass": ["inetOrgPerson", "campusADUser"],
        "cn": "Frank Miller",
        "givenName": "Frank",
        "sn": "Miller",
        "mail": "frank@campus.test",
        "sAMAccountName": "frank",
        "userPrincipalName": "frank@campus.test",
        "userPassword": _ssha(directory.passwords["frank"]),
    }


def _group(directory: Directory, cn: str, *members: str) -> tuple[str, dict]:
    return directory.group_dn(cn), {"objectClass": ["groupOfNames"], "cn": cn, "member": list(members)}


def _posix_group(directory: Directory, cn: str, gid: int, *member_uids: str) -> tuple[str, dict]:
    """Membership by login name (memberUid), not by DN: the other way directories record groups."""
    return directory.group_dn(cn), {
        "objectClass": ["posixGroup"],
        "cn": cn,
        "gidNumber": gid,
        "memberUid": list(member_uids),
    }


def _reader(directory: Directory) -> tuple[str, dict]:
    """The service account: it has only a password, and the ACLs let it search everything but passwords."""
    return directory.reader_dn, {
        "objectClass": ["organizationalRole", "simpleSecurityObject"],
        "cn": "reader",
        "userPassword": _ssha(directory.reader_password),
    }


def _entries(directory: Directory) -> list[tuple[str, dict]]:
    """The seed, in an order where every member exists before its group (so memberOf is filled in)."""
    person = {uid: f"uid={uid},{directory.people_dn}" for uid in ("alice", "bob", "carol", "dave", "erin")}
    frank = f"cn=Frank Miller,{directory.people_dn}"
    return [
        (directory.base_dn, {"objectClass": ["dcObject", "organization"], "dc": "campus", "o": "Campus"}),
        _reader(directory),
        (directory.people_dn, {"objectClass": ["organizationalUnit"], "ou": "people"}),
        (directory.groups_dn, {"objectClass": ["organizationalUnit"], "ou": "groups"}),
        _posix_person(directory, "alice", "Alice", "Anders", 10001),
        _posix_person(directory, "bob", "Bob", "Baker", 10002),
        _posix_person(directory, "carol", "Carol", "Chen", 10003),
        _posix_person(directory, "dave", "Dave", "Dunn", 10004),
        _posix_person(directory, "erin", "Erin", "Evans", 10005),
        _ad_person(directory),
        _group(directory, "students", person["alice"], person["bob"], frank),
        _group(directory, "staff", person["carol"]),
        _group(directory, "hub-admins", person["dave"]),
        # alice is in physics only through students: for resolvers that follow nested groups.
        _group(directory, "physics", directory.group_dn("students")),
        # A membership cycle (loop-a <-> loop-b, closed in _seed): nested-group resolvers must stop.
        _group(directory, "loop-a", person["carol"]),
        _group(directory, "loop-b", directory.group_dn("loop-a")),
        _posix_group(directory, "lab", 20000, "bob"),
        # erin is in a group, but in none that may sign in: course rosters from the directory leave her out.
        _group(directory, "visitors", person["erin"]),
    ]


def _seed(root: ldap3.Connection, directory: Directory) -> None:
    """Add the seed over LDAP (not slapadd) so the memberof overlay fills in memberOf."""
    for dn, attributes in _entries(directory):
        root.add(dn, attributes=attributes)
    root.modify(directory.group_dn("loop-a"), {"member": [(ldap3.MODIFY_ADD, [directory.group_dn("loop-b")])]})
