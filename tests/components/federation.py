"""A SAML federation's metadata service on loopback: IdPs' metadata aggregated, signed with xmlsec1, served.

A federation (InCommon, DFN-AAI, eduGAIN's national ones) publishes one EntitiesDescriptor holding every
member IdP, signed with the federation's key; service providers check it with the federation's certificate.
This one signs with the real xmlsec1 and serves over HTTP; `publish()` swaps what it serves (a tampered or an
unsigned copy) and `fetches` counts requests, so a test can watch the hub refresh.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.ports import HOST, free_port
from tests.components.saml_idp import make_key_pair

ROOT = "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor"
SIGNATURE_TEMPLATE = (
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<ds:Reference URI="#{id}"><ds:Transforms>'
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>'
    "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo>{key_info}</ds:KeyInfo></ds:Signature>"
)


def entity_descriptors(*documents: str) -> str:
    """The EntityDescriptor elements of metadata documents, their XML declarations dropped."""
    return "".join(re.sub(r"^<\?xml[^>]*\?>\s*", "", document.strip()) for document in documents)


def aggregate(descriptors: str, aggregate_id: str = "federation-1", signature: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="{aggregate_id}" '
        f'Name="urn:campus-test:federation">{signature}{descriptors}</md:EntitiesDescriptor>'
    )


def sign(xml_template: str, key: Path, certificate: Path | None, node: str = ROOT) -> str:
    """xmlsec1's signature over the document whose empty Signature template is in place."""
    with tempfile.TemporaryDirectory() as directory:
        source, signed = Path(directory) / "in.xml", Path(directory) / "out.xml"
        source.write_text(xml_template)
        keys = f"{key},{certificate}" if certificate else str(key)
        subprocess.run(
            ["xmlsec1", "--sign", "--privkey-pem", keys, "--id-attr:ID", node, "--output", str(signed), str(source)],
            check=True, capture_output=True,
        )  # fmt: skip
        return signed.read_text()


def signed_aggregate(descriptors: str, key: Path, certificate: Path | None, key_value: bool = False) -> str:
    """The federation document signed with `key`; `key_value` puts the raw public key in KeyInfo instead of
    the certificate (what someone without the federation's certificate would try)."""
    key_info = "<ds:KeyValue/>" if key_value else "<ds:X509Data><ds:X509Certificate/></ds:X509Data>"
    template = aggregate(descriptors, signature=SIGNATURE_TEMPLATE.format(id="federation-1", key_info=key_info))
    return sign(template, key, None if key_value else certificate)


@dataclass
class Federation:
    directory: Path
    url: str
    served: list[str] = field(default_factory=lambda: [""])
    fetches: int = 0
    chosen_idp: str = ""  # what the discovery service answers, as if a person had picked it

    @property
    def discovery_url(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/discovery"

    @property
    def certificate(self) -> Path:
        return self.directory / "federation.crt"

    @property
    def key(self) -> Path:
        return self.directory / "federation.key"

    def publish(self, document: str) -> None:
        self.served[0] = document


@contextmanager
def running_federation() -> Iterator[Federation]:
    with tempfile.TemporaryDirectory(prefix="campushub-federation-") as directory:
        make_key_pair(Path(directory), "federation")
        port = free_port()
        federation = Federation(Path(directory), f"http://{HOST}:{port}/federation-metadata.xml")

        class Metadata(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/discovery?"):
                    return self.discovery()
                federation.fetches += 1
                body = federation.served[0].encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def discovery(self) -> None:
                """The SAML IdP Discovery Protocol: back to `return`, the choice in `returnIDParam`."""
                query = parse_qs(urlsplit(self.path).query)
                back = query["return"][0]
                separator = "&" if "?" in back else "?"
                chosen = urlencode({query.get("returnIDParam", ["entityID"])[0]: federation.chosen_idp})
                self.send_response(302)
                self.send_header("Location", f"{back}{separator}{chosen}")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((HOST, port), Metadata)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield federation
        finally:
            server.shutdown()
            server.server_close()
