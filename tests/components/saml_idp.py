"""A real SAML 2.0 identity provider on loopback: Debian's simplesamlphp under PHP's built-in web server.

Everything it reads lives in one temporary directory: a config.php that takes Debian's own
/etc/simplesamlphp/config.php and changes only what a test IdP needs (its URL, plain-HTTP cookies, the
SAML 2.0 IdP and the `exampleauth` module on, files instead of syslog), the users' passwords and
attributes (authsources.php), the IdP's signing key and certificate, and the service providers it
trusts (metadata/saml20-sp-remote.php), written by `trust()` from what the SP publishes. PHP reads the
directory through SIMPLESAMLPHP_CONFIG_DIR; the machine's /etc/simplesamlphp is read, never changed.

People sign in on the IdP's own form (username, password): `sign_in()` does it as a browser would,
following the redirects and posting the form, and returns the page the IdP posts back to the SP.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.ports import HOST, free_port
from tests.helpers.processes import stop_process

PHP = Path("/usr/bin/php")
WWW = Path("/usr/share/simplesamlphp/www")
DEBIAN_CONFIG = Path("/etc/simplesamlphp/config.php")
START_TIMEOUT = 20


@dataclass(frozen=True)
class IdPUser:
    username: str
    password: str
    attributes: dict[str, list[str]]


@dataclass
class SAMLIdP:
    base_url: str  # ends in /
    directory: Path
    certificate: str  # PEM
    process: subprocess.Popen
    trusted: dict[str, dict] = field(default_factory=dict)

    @property
    def entity_id(self) -> str:
        return f"{self.base_url}saml2/idp/metadata.php"

    @property
    def metadata_url(self) -> str:
        return self.entity_id

    def metadata(self) -> str:
        return requests.get(self.metadata_url, timeout=10).text

    def trust(self, entity_id: str, acs_url: str, **options: object) -> None:
        """Let the SP `entity_id` sign people in here, its responses posted to `acs_url`. `options` are
        simplesamlphp's per-SP settings (`saml20.sign.assertion`, `assertion.lifetime`, `SingleLogoutService`)."""
        self.trusted[entity_id] = {"AssertionConsumerService": acs_url, **options}
        entries = "".join(
            f"$metadata[{php_string(entity)}] = json_decode({php_string(json.dumps(settings))}, true);\n"
            for entity, settings in self.trusted.items()
        )
        (self.directory / "metadata" / "saml20-sp-remote.php").write_text(f"<?php\n{entries}")

    def log(self) -> str:
        path = self.directory / "log" / "simplesamlphp.log"
        return path.read_text(errors="replace") if path.exists() else ""


def php_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def php_users(users: Sequence[IdPUser]) -> str:
    return "".join(
        f"        {php_string(f'{user.username}:{user.password}')} => "
        f"json_decode({php_string(json.dumps(user.attributes))}, true),\n"
        for user in users
    )


def make_key_pair(directory: Path, name: str) -> str:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", f"/CN={name}",
         "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (directory / f"{name}.crt").read_text()


@contextmanager
def running_idp(users: Sequence[IdPUser]) -> Iterator[SAMLIdP]:
    directory = Path(tempfile.mkdtemp(prefix="campushub-saml-idp-"))
    try:
        for sub in ("metadata", "cert", "log", "data", "tmp", "sessions"):
            (directory / sub).mkdir()
        certificate = make_key_pair(directory / "cert", "idp")
        port = free_port()
        base_url = f"http://{HOST}:{port}/"
        overrides = {
            "baseurlpath": base_url,
            "secretsalt": secrets.token_hex(16),
            "auth.adminpassword": secrets.token_hex(16),
            "enable.saml20-idp": True,
            "module.enable": {"exampleauth": True, "core": True, "saml": True, "admin": True},
            "session.cookie.secure": False,
            "session.cookie.samesite": None,
            "session.phpsession.savepath": str(directory / "sessions"),
            "certdir": str(directory / "cert") + "/",
            "loggingdir": str(directory / "log") + "/",
            "datadir": str(directory / "data") + "/",
            "tempdir": str(directory / "tmp"),
            "metadatadir": str(directory / "metadata") + "/",
            "logging.handler": "file",
            "timezone": "UTC",
        }
        settings = "".join(f"$config[{php_string(key)}] = {php_value(value)};\n" for key, value in overrides.items())
        (directory / "config.php").write_text(
            f"<?php\nrequire {php_string(str(DEBIAN_CONFIG))};\n{settings}"
            "$config['logging.level'] = SimpleSAML\\Logger::DEBUG;\n"
        )
        (directory / "authsources.php").write_text(
            "<?php\n$config = [\n    'admin' => ['core:AdminPassword'],\n"
            f"    'campus-users' => [\n        'exampleauth:UserPass',\n{php_users(users)}    ],\n];\n"
        )
        (directory / "metadata" / "saml20-idp-hosted.php").write_text(
            "<?php\n$metadata['__DYNAMIC:1__'] = [\n    'host' => '__DEFAULT__',\n"
            "    'privatekey' => 'idp.key',\n    'certificate' => 'idp.crt',\n    'auth' => 'campus-users',\n"
            "    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',\n];\n"
        )
        (directory / "metadata" / "saml20-sp-remote.php").write_text("<?php\n")
        log = (directory / "log" / "php.log").open("w")
        process = subprocess.Popen(
            # No opcache: trust() rewrites metadata PHP files, which opcache would go on serving for seconds.
            [str(PHP), "-d", "opcache.enable=0", "-S", f"{HOST}:{port}", "-t", str(WWW)],
            env={"SIMPLESAMLPHP_CONFIG_DIR": str(directory), "PATH": "/usr/bin:/bin"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        idp = SAMLIdP(base_url, directory, certificate, process)
        try:
            wait_for(idp)
            yield idp
        finally:
            stop_process(process, 10)
            log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def php_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{php_string(k)} => {php_value(v)}" for k, v in value.items()) + "]"
    return php_string(str(value))


def wait_for(idp: SAMLIdP) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if idp.process.poll() is not None:
            raise RuntimeError(f"simplesamlphp's PHP server ended at start:\n{idp.log()}")
        try:
            answer = requests.get(idp.metadata_url, timeout=2)
            if answer.status_code == 200 and "<md:EntityDescriptor" in answer.text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"simplesamlphp did not serve its metadata within {START_TIMEOUT} s:\n{idp.log()}")


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the first form on `page` (the IdP's sign-in form, or its POST back)."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    return action, fields


def sign_in(session: requests.Session, start_url: str, username: str, password: str) -> tuple[str, dict[str, str]]:
    """From the SP's login URL through the IdP's form: (the SP's ACS URL, the fields the IdP posts to it)."""
    page = session.get(start_url, timeout=30)
    page.raise_for_status()
    action, fields = form_fields(page.text)
    answer = session.post(
        requests.compat.urljoin(page.url, action),
        data={**fields, "username": username, "password": password},
        timeout=30,
    )
    answer.raise_for_status()
    return form_fields(answer.text)
