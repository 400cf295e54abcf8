"""IdP metadata fetched from a federation, and its signature checked against the federation's certificate.

pysaml2 can fetch remote metadata and check its signature, but it accepts an *unsigned* document even when
a signing certificate is configured, which is exactly what a federation's certificate is there to prevent:
anyone who can change the document on its way (a proxy, a poisoned DNS answer) could add an IdP of their
own. So CampusHub fetches the document itself, requires a signature made with the federation's key over the
whole document (the root element, not some element inside it), and only then hands it to pysaml2 as inline
metadata. The key comes only from the configured certificate, never from the document's own KeyInfo.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from defusedxml import ElementTree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XMLSEC = "xmlsec1"
VERIFY_TIMEOUT = 60


class MetadataRefused(ValueError):
    """Metadata that must not be used; the message says why, for the hub's log and `campushub check`."""


def root_reference(xml: str) -> tuple[str, str]:
    """(the root's qualified name for xmlsec1, its ID), once the root carries a signature that covers it.

    A signature on an element inside the document would leave the rest of it (other IdPs) unprotected, and
    a document whose root has no signature is refused: a federation always signs the whole aggregate.
    """
    try:
        root = ElementTree.fromstring(xml)
    except Exception as exc:  # defusedxml raises parse errors and its own refusals of entity tricks
        raise MetadataRefused(f"it is not well-formed XML ({exc})") from None
    if root.tag not in (f"{{{MD}}}EntitiesDescriptor", f"{{{MD}}}EntityDescriptor"):
        raise MetadataRefused(f"its root element is {root.tag}, not a SAML metadata EntitiesDescriptor")
    signatures = root.findall(f"{{{DS}}}Signature")
    if not signatures:
        raise MetadataRefused("it is not signed, and `metadata_signing_certificate` requires a signature")
    if len(signatures) > 1:
        raise MetadataRefused("its root carries more than one signature")
    references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    root_id = root.get("ID", "")
    if len(references) != 1 or references[0].get("URI") not in ({f"#{root_id}"} if root_id else {""}):
        raise MetadataRefused("its signature does not cover the whole document")
    return f"{MD}:{root.tag.rsplit('}', 1)[1]}", root_id


def verify_signature(xml: str, certificate: Path) -> None:
    """Raise MetadataRefused unless `xml` is signed as a whole with the key of `certificate` (PEM)."""
    node, _ = root_reference(xml)
    if not certificate.is_file():
        raise MetadataRefused(f"the signing certificate {certificate} cannot be read")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", encoding="utf-8") as document:
        document.write(xml)
        document.flush()
        try:
            checked = subprocess.run(
                [XMLSEC, "--verify", "--pubkey-cert-pem", str(certificate), "--id-attr:ID", node,
                 "--enabled-reference-uris", "empty,same-doc", "--enabled-key-data", "key-name", document.name],
                capture_output=True, text=True, timeout=VERIFY_TIMEOUT, check=False,
            )  # fmt: skip
        except FileNotFoundError:
            raise MetadataRefused("xmlsec1 is not installed (apt-get install xmlsec1)") from None
    if checked.returncode != 0:
        said = [line for line in checked.stderr.splitlines() if "error" in line.lower()]
        detail = f" ({said[-1].strip()})" if said else ""
        raise MetadataRefused(f"its signature does not verify with {certificate}{detail}")
