"""Reaching the campus directory the way campus.yaml describes it, for everything but sign-in itself.

Sign-in goes through ldapauthenticator; `campushub check` and course rosters open their own
connection, with the same TLS rules: the certificate is always checked.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import ldap3

from campushub.identity.methods.ldap import LdapSignIn

CONNECT_TIMEOUT = 5
RECEIVE_TIMEOUT = 10


def directory_server(ldap: LdapSignIn) -> ldap3.Server:
    parsed = urlsplit(ldap.url)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ldap.ca_cert) if ldap.ca_cert else None)
    port = parsed.port or (636 if ldap.tls == "ldaps" else 389)
    return ldap3.Server(
        parsed.hostname, port=port, use_ssl=ldap.tls == "ldaps", tls=tls, connect_timeout=CONNECT_TIMEOUT
    )


def open_connection(ldap: LdapSignIn) -> ldap3.Connection:
    """Connected (and upgraded for `starttls`), not yet bound.

    Names are not checked against the server's schema: filters name classes and attributes of both OpenLDAP
    and Active Directory (`group`, `sAMAccountName`), and each directory knows only its own.
    """
    conn = ldap3.Connection(
        directory_server(ldap), auto_bind=ldap3.AUTO_BIND_NONE, receive_timeout=RECEIVE_TIMEOUT, check_names=False
    )
    conn.open()
    if ldap.tls == "starttls":
        conn.start_tls()
    return conn
